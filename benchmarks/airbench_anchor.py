"""The anchor for `cifar10-fast`: airbench94's own training script beside `zoo train` on the same
data, on the CPU or on a CUDA GPU.

airbench94 (github.com/KellerJordan/cifar10-airbench, `legacy/airbench94.py` at commit f1c599c,
MIT licence) is a third party's code and is not part of this repository: put your copy at
`.gpu/airbench94.py` (ignored by git; the folder docs/gpu.md carries to a GPU machine) or pass
`--script`. The driver checks that the file is the published one (its sha256). Whatever the
device, the driver writes the script's `train.pt`/`test.pt` from the CIFAR-10 JPEG class folders
(the script would download the original files) and runs `--runs` runs instead of 25. On CUDA
(`--device cuda`) that is all: the script runs as published (float16 weights and activations on
the GPU, cudnn.benchmark, its own CUDA-event timing). On the CPU it also changes, as text
substitutions printed before the run: tensors on the CPU in float32 (not half on CUDA), the
forward passes under bfloat16 autocast (float32 master weights, the loss in float32), CUDA events
replaced by a wall clock. Everything else (network, recipe, lookahead, TTA) runs as published.

The record (last on stdout, and in `--json FILE`) holds each run's TTA accuracy and the script's
own time for it: `total_time_seconds` of its final row (whitening, training epochs and the TTA
evaluation, not the per-epoch evaluations), and the same up to the end of its last training epoch.

    .venv/bin/python benchmarks/airbench_anchor.py --data-dir /tmp/cifar10 --runs 1
    python benchmarks/airbench_anchor.py --device cuda --data-dir /tmp/cifar10 --runs 3
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.datasets.folder import ImageFolderDataset
from zoo.machine import this_machine

SCRIPT = Path(__file__).resolve().parent.parent / ".gpu" / "airbench94.py"
SCRIPT_SHA256 = "0b155e0ff0e696bc01ae136654ddae88a24cd053cd2b4313d44548c29ed6c91d"  # at f1c599c
SCRIPT_SOURCE = (
    "https://raw.githubusercontent.com/KellerJordan/cifar10-airbench/"
    "f1c599c4af24aca803e3e65a6a7e52a502e09d0e/legacy/airbench94.py"
)
RUNS = ("for run in range(25)", "for run in range(RUNS)")
CPU_SUBSTITUTIONS = [
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
COLUMNS = (
    "run",
    "epoch",
    "train_loss",
    "train_acc",
    "val_acc",
    "tta_val_acc",
    "total_time_seconds",
)


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


def substitutions(device: str) -> list[tuple[str, str]]:
    """What the driver changes in the script on ``device`` (cpu or cuda)."""
    return [*(CPU_SUBSTITUTIONS if device == "cpu" else []), RUNS]


def missing(script: Path) -> str | None:
    """Why ``script`` cannot be run as the published airbench94.py, or None when it can."""
    if not script.is_file():
        return f"no {script}: download {SCRIPT_SOURCE} there (or pass --script)"
    digest = hashlib.sha256(script.read_bytes()).hexdigest()
    if digest != SCRIPT_SHA256:
        return f"{script} is not airbench94.py as published at f1c599c (sha256 {digest[:16]}...)"
    return None


def patched(script: Path, device: str) -> str:
    """The script's text with the substitutions for ``device``; refused if one does not apply."""
    text = script.read_text()
    for old, new in substitutions(device):
        if old not in text:
            raise SystemExit(f"{script} does not contain {old!r}: not airbench94.py as published")
        text = text.replace(old, new)
    return (PRELUDE if device == "cpu" else "") + text


def runs_from_table(printed: str) -> list[dict[str, float]]:
    """Each run's TTA accuracy and the script's own times, from the table it prints: its final
    row (epoch "eval") and the last training epoch's row before it."""
    runs, last_epoch_seconds = [], None
    for line in printed.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != len(COLUMNS) or cells[0] == "run":
            continue
        row = dict(zip(COLUMNS, cells, strict=True))
        if row["epoch"] == "eval":
            runs.append(
                {
                    "tta_accuracy": float(row["tta_val_acc"]),
                    "seconds": float(row["total_time_seconds"]),
                    "train_seconds": last_epoch_seconds,
                }
            )
        elif row["total_time_seconds"]:
            last_epoch_seconds = float(row["total_time_seconds"])
    return runs


class Tee(io.TextIOBase):
    """Writes go to the real stdout and are kept (the script's table is read afterwards)."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.kept = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def run_script(script: Path, device: str, runs: int, work: Path) -> str:
    """airbench's own loop, in this process, in ``work``; what it printed."""
    for old, new in substitutions(device):
        print(f"changed: {old.strip()!r} -> {new.strip()!r}", flush=True)
    code = compile(patched(script, device), str(script), "exec")
    namespace = {"__name__": "__main__", "RUNS": runs}
    argv, cwd, tee = sys.argv, Path.cwd(), Tee(sys.stdout)
    os.chdir(work)
    sys.argv = [str(script)]  # it reads its own source from argv[0] for its log
    try:
        with contextlib.redirect_stdout(tee):
            exec(code, namespace)
    finally:
        sys.argv = argv
        os.chdir(cwd)
    return tee.kept.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", type=Path, default=SCRIPT, help="airbench94.py")
    parser.add_argument("--data-dir", type=Path, required=True, help="CIFAR-10 JPEG folders")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("/tmp/airbench-anchor"))
    parser.add_argument("--json", type=Path, help="also write the record here")
    args = parser.parse_args()
    why = missing(args.script)
    if why:
        raise SystemExit(f"airbench_anchor: {why}")
    work = args.work / "cifar10"
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    loading = write_tensors(args.data_dir, work)
    printed = run_script(args.script, args.device, args.runs, args.work)
    wall = time.perf_counter() - started
    logs = sorted((args.work / "logs").glob("*/log.pt"), key=lambda p: p.stat().st_mtime)
    accuracies = torch.load(logs[-1], weights_only=True)["accs"].tolist() if logs else []
    record = {
        "machine": this_machine().to_json(),
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "script": str(args.script),
        "changed": [old.strip() for old, _ in substitutions(args.device)],
        "runs": args.runs,
        "tta_accuracy": accuracies,
        "mean_tta_accuracy": float(np.mean(accuracies)) if accuracies else None,
        "script_runs": runs_from_table(printed),
        "wall_seconds": round(wall, 1),
        "data_seconds": round(loading, 1),
    }
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
