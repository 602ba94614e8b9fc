"""What the manifest check costs on `zoo predict`'s cached path: every run of an exported file
checks its sha256 against the manifest first (zoo.artifacts.manifest.checked_file).

    .venv/bin/python benchmarks/check_cost.py --image /tmp/cifar10/test/cat/0000.jpg --calls 9

With an empty $ZOO_HOME in a temporary folder, each model's first `zoo predict MODEL IMAGE`
exports and caches it; then, per model, the check alone (checked_file on the cached folder: read
the manifest, hash the ONNX file) --calls times in this process, and a later `zoo predict MODEL
IMAGE` --calls times, each a fresh process, interleaved with the check; the check's share of a
call is the ratio of the medians. The section is written to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_file import write_section

MODELS = ("mnist-mlp3", "cifar10-cnn", "cifar10-fast")
ZOO = Path(sys.executable).with_name("zoo")


def seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode:
        sys.exit(f"{' '.join(command)} failed: {result.stderr}")
    return time.perf_counter() - started


def measure(model: str, image: str, calls: int, env: dict[str, str]) -> dict[str, float]:
    """The first call, then the check and a later call, interleaved, ``calls`` times each."""
    from zoo.artifacts.manifest import checked_file

    first = seconds([str(ZOO), "predict", model, image], env)
    (folder,) = [
        p for p in (Path(env["ZOO_HOME"]) / "predict").iterdir() if p.name.startswith(f"{model}-")
    ]
    from zoo.predict.onnx import Predictor

    checks, runs, predicts = [], [], []
    for _ in range(calls):
        started = time.perf_counter()
        path = checked_file(folder)
        checks.append(time.perf_counter() - started)
        started = time.perf_counter()
        Predictor(path, 1, checked=True).predict([image], top_k=5)  # what the call does after
        runs.append(time.perf_counter() - started)
        predicts.append(seconds([str(ZOO), "predict", model, image], env))
    check, run, predict = (statistics.median(v) for v in (checks, runs, predicts))
    return {
        "mb": path.stat().st_size / 1e6,
        "first": first,
        "check_ms": 1e3 * check,
        "check_max_ms": 1e3 * max(checks),
        "run_ms": 1e3 * run,
        "predict": predict,
        "run_share": check / (check + run),
        "share": check / predict,
    }


def section(rows: dict[str, dict[str, float]], calls: int, image: str) -> str:
    from zoo.machine import this_machine

    machine = this_machine()
    lines = [
        "## The manifest check on `zoo predict`'s cached path (`benchmarks/check_cost.py`)",
        "",
        "```bash",
        f".venv/bin/python benchmarks/check_cost.py --image {image} --calls {calls}",
        "```",
        "",
        f"On {machine.cpu} ({', '.join(machine.to_json()['features'])}), {os.cpu_count()} cores, "
        f"{datetime.date.today().isoformat()}, load average {os.getloadavg()[0]:.1f} at the end "
        "(the ratios are the figures to read on a shared machine). Each later call is "
        "a fresh `zoo predict MODEL IMAGE` process on the cached export; the check is "
        "`checked_file` on the cached folder (read manifest.json, hash the ONNX file), in this "
        "process, beside what the call does next in the same process (open the file in ONNX "
        f"Runtime, predict one image), interleaved with the calls; medians of {calls}.",
        "",
        "| model | ONNX file | check | check (max) | open + predict, in process | check's "
        "share of the two | later `zoo predict` call | check's share of it |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, row in rows.items():
        lines.append(
            f"| {model} | {row['mb']:.2f} MB | {row['check_ms']:.1f} ms | "
            f"{row['check_max_ms']:.1f} ms | {row['run_ms']:.1f} ms | "
            f"{100 * row['run_share']:.1f} % | {row['predict']:.3f} s | "
            f"{100 * row['share']:.1f} % |"
        )
    lines += [
        "",
        "Every use of a cached export or release hashes its ONNX file before it runs (a changed "
        "one is removed and made again, with a note), and `zoo predict DIR` or `FILE.onnx` of an "
        "export directory hashes the file it runs: the same check, the same cost.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--calls", type=int, default=9)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ZOO_HOME": home}
        os.environ["ZOO_HOME"] = home
        rows = {m: measure(m, args.image, args.calls, env) for m in args.models.split(",")}
    text = section(rows, args.calls, args.image)
    print(text)
    write_section("check-cost", text)


if __name__ == "__main__":
    main()
