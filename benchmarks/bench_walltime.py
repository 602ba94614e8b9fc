"""`zoo bench`'s default run of every built-in model: its wall time (export included) and how well
two runs agree on each p50 (benchmarks/settle_ratio.py compares the timing loop's ratios).

Each `zoo bench MODEL --report FILE.json` runs in a fresh process, timed from outside;
flowers-transfer gets `--model-arg pretrained=false` (no download here).

    .venv/bin/python benchmarks/bench_walltime.py
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import write_section

from zoo.machine import this_machine
from zoo.registry import get_registry

ROOT = Path(__file__).resolve().parent.parent
ZOO = str(Path(sys.executable).with_name("zoo"))
EXTRA = {"flowers-transfer": ["--model-arg", "pretrained=false"]}


def bench(name: str, out: Path, *options: str) -> tuple[float, dict, str]:
    command = [ZOO, "bench", name, *EXTRA.get(name, []), *options, "--report", str(out)]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    shown = " ".join(shlex.quote(p) for p in command[1:-2])
    return seconds, json.loads(out.read_text()), f"zoo {shown}"


def p50s(result: dict) -> dict[tuple[str, str, int], float]:
    return {
        (row["backend"], row["device"], row["batch"]): row["p50_ms"] for row in result["latency"]
    }


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} / {five:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()
    names = args.models or sorted(e.name for e in get_registry().entries("model") if e.builtin)
    rows, commands = [], []
    with tempfile.TemporaryDirectory(prefix="zoo-bench-walltime-") as scratch:
        for name in names:
            before = load()
            first_s, first, command = bench(name, Path(scratch) / "1.json")
            second_s, second, _ = bench(name, Path(scratch) / "2.json")
            a, b = p50s(first), p50s(second)
            gaps = [abs(b[key] / a[key] - 1) for key in a if key in b]
            rows.append(
                f"| {name} | {first_s:.1f} | {second_s:.1f} "
                f"| {first['wall_seconds']:.1f} / {second['wall_seconds']:.1f} | {max(gaps):.1%} "
                f"| {statistics.median(gaps):.1%} | {len(gaps)} | {before} → {load()} |"
            )
            commands.append(command)
            print(rows[-1], flush=True)
    text = "\n".join(
        [
            "## `zoo bench` wall time and repeatability (default options, every built-in)",
            "",
            f"`.venv/bin/python benchmarks/bench_walltime.py` on {datetime.date.today()}: "
            f"{this_machine().text()}. Each model's "
            "default `zoo bench` twice in fresh processes (export, parity and timing included), "
            "wall time measured from outside; p50 disagreement is |p50₂ / p50₁ − 1| over every "
            "backend, device and batch size (1 and 32). Load average (1 / 5 min) before and after "
            "each pair is in the last column: a load above 2 (cores) means other work shared the "
            "machine.",
            "",
            "| model | run 1 (s) | run 2 (s) | of which parity and timing (s) "
            "| worst p50 disagreement | median | p50s | load before → after |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "Commands: " + "; ".join(f"`{c}`" for c in commands),
        ]
    )
    write_section("bench-walltime", text, args.results)
    print(text)


if __name__ == "__main__":
    main()
