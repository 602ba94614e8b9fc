"""The anchor for `cifar10-fast`: airbench94's own training script, run on this CPU, beside
`zoo train` on the same data.

airbench94 (github.com/KellerJordan/cifar10-airbench, `legacy/airbench94.py`) is not copied into
zoo: pass the path of your own copy. This driver changes only what a CPU and the CIFAR-10 JPEG
copy need, as text substitutions printed before the run: tensors on the CPU in float32 (not
half on CUDA), the forward passes under bfloat16 autocast (float32 master weights, the loss in
float32), CUDA events replaced by a wall clock, its `train.pt`/`test.pt` written from the JPEG
class folders, and `--runs` runs instead of 25. Everything else (network, recipe, lookahead, TTA)
runs as published.

    .venv/bin/python benchmarks/airbench_anchor.py --script ~/cifar10-airbench/legacy/airbench94.py \\
        --data-dir /tmp/cifar10 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from zoo.datasets.folder import ImageFolderDataset
from zoo.machine import this_machine

SUBSTITUTIONS = [
    ("map_location=torch.device(gpu)", "map_location='cpu'"),
    ("self.images = (self.images.half() / 255)", "self.images = (self.images.float() / 255)"),
    ("net = net.half().cuda()", "net = net.float()"),
    ("torch.cuda.Event(enable_timing=True)", "_WallEvent()"),
    ("torch.cuda.synchronize()", "pass"),
    (
        "outputs = model(inputs)\n",
        "with torch.autocast('cpu', dtype=torch.bfloat16):\n"
        "                outputs = model(inputs).float()\n",
    ),
    (
        "    with torch.no_grad():\n        return torch.cat(",
        "    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):\n        return torch.cat(",
    ),
    ("for run in range(25)", "for run in range(RUNS)"),
]
PRELUDE = '''
import time as _time


class _WallEvent:
    """CUDA's timing event, on the CPU: the wall clock."""

    def record(self):
        self.at = _time.perf_counter()

    def elapsed_time(self, end):
        """Milliseconds from this event to ``end``, as ``start.elapsed_time(end)`` is."""
        return 1e3 * (end.at - self.at)
'''


def write_tensors(data_dir: Path, out: Path) -> float:
    """airbench's train.pt and test.pt (uint8 N×H×W×C, labels, classes) from the JPEG folders;
    the seconds it took (decoding, or reading zoo's decode cache)."""
    started = time.perf_counter()
    for split in ("train", "test"):
        dataset = ImageFolderDataset(data_dir, train=split == "train")
        images, labels = dataset.as_tensors()
        torch.save(
            {
                "images": images.permute(0, 2, 3, 1).contiguous(),
                "labels": labels,
                "classes": dataset.classes,
            },
            out / f"{split}.pt",
        )
    return time.perf_counter() - started


def patched(script: Path) -> str:
    text = script.read_text()
    for old, new in SUBSTITUTIONS:
        if old not in text:
            raise SystemExit(f"{script} does not contain {old!r}: not airbench94.py as published")
        text = text.replace(old, new)
    return PRELUDE + text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", type=Path, required=True, help="airbench94.py")
    parser.add_argument("--data-dir", type=Path, required=True, help="CIFAR-10 JPEG folders")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("/tmp/airbench-anchor"))
    args = parser.parse_args()
    work = args.work / "cifar10"
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    loading = write_tensors(args.data_dir, work)
    for old, new in SUBSTITUTIONS:
        print(f"changed: {old.strip()!r} -> {new.strip()!r}", flush=True)
    code = patched(args.script)
    os.chdir(args.work)
    namespace = {"__name__": "__main__", "RUNS": args.runs}
    sys.argv = [str(args.script)]
    with open(os.devnull, "w") as _:
        exec(compile(code, str(args.script), "exec"), namespace)  # airbench's own loop
    wall = time.perf_counter() - started
    logs = sorted((args.work / "logs").glob("*/log.pt"), key=lambda p: p.stat().st_mtime)
    accuracies = torch.load(logs[-1], weights_only=True)["accs"].tolist() if logs else []
    record = {
        "machine": this_machine().to_json(),
        "torch": torch.__version__,
        "runs": args.runs,
        "tta_accuracy": accuracies,
        "mean_tta_accuracy": float(np.mean(accuracies)) if accuracies else None,
        "wall_seconds": round(wall, 1),
        "data_seconds": round(loading, 1),
    }
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
