"""Does `zoo bench`'s new timing (time-sized slices, one settle pause per slice, a wall-time
budget) give the same speed ratios as the old one (50-call rounds, a 20 ms pause before each)?
And what does the pause buy? The same opened backends, in one process, timed three ways, in turn,
three times over:

- old: the previous `zoo bench` loop (rounds of at most 50 calls or 50 ms, 20 ms pause before each,
  until each backend has 1 s of calls);
- new: `zoo.export.bench.interleaved` with the default budget, as `zoo bench` runs it;
- new, no pause: the same with ``SETTLE_SECONDS = 0``.

    .venv/bin/python benchmarks/settle_ratio.py [RUN_DIR|MODEL]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from results_file import write_section

from zoo.export import bench, formats, pipeline
from zoo.export.source import load_samples, resolve

ROOT = Path(__file__).resolve().parent.parent


def old_interleaved(calls: dict[str, Callable[[], Any]]) -> dict[str, list[float]]:
    """The previous loop: 50-call (or 50 ms) rounds, a 20 ms pause before each, 1 s per backend."""
    rounds = {}
    for label, call in calls.items():
        start, count = time.perf_counter(), 0
        while count < 5 or time.perf_counter() - start < 0.1:
            call()
            count += 1
        per_call = (time.perf_counter() - start) / count
        rounds[label] = max(1, min(50, int(0.05 / max(per_call, 1e-9))))
    times: dict[str, list[float]] = {label: [] for label in calls}
    while not all(len(t) >= 50 and sum(t) >= 1.0 for t in times.values()):
        for label, call in calls.items():
            time.sleep(0.02)
            for _ in range(rounds[label]):
                begin = time.perf_counter()
                call()
                times[label].append(time.perf_counter() - begin)
    return times


def new_interleaved(settle: float) -> Callable[[dict[str, Callable[[], Any]]], dict]:
    def run(calls: dict[str, Callable[[], Any]]) -> dict[str, list[float]]:
        saved, bench.SETTLE_SECONDS = bench.SETTLE_SECONDS, settle
        try:
            return bench.interleaved(calls, iterations=20, min_seconds=0.4, budget=3.0)
        finally:
            bench.SETTLE_SECONDS = saved

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default="cifar10-cnn")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()
    source = resolve(args.source)
    samples = load_samples(source, 16)
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"zoo-settle-{os.getpid()}"
    manifest = pipeline.export(source, scratch, samples, formats_wanted=formats.FORMATS)
    files = bench.float32_files({f["format"]: scratch / f["path"] for f in manifest["files"]})
    threads = torch.get_num_threads()
    methods = {
        "old (50-call rounds, 20 ms pause each)": old_interleaved,
        "new (0.1 s slices, 20 ms pause each)": new_interleaved(bench.SETTLE_SECONDS),
        "new without the pause": new_interleaved(0.0),
    }
    ratios: dict[tuple[str, int, str], list[float]] = {}
    walls: dict[tuple[str, int], list[float]] = {}
    with bench.torch_threads(threads), torch.inference_mode():
        opened = bench.prepare(source, files, bench.DEFAULT_BACKENDS, ("cpu",), threads, None, {})
        live = [b for b in opened if not b.skipped]
        for batch in (1, 32):
            data = np.random.default_rng(0).standard_normal((batch, *source.input_shape))
            calls = {b.name: b.make_call(data.astype(np.float32)) for b in live}
            for _ in range(args.repeats):
                for method, timer in methods.items():
                    start = time.perf_counter()
                    times = timer(calls)
                    walls.setdefault((method, batch), []).append(time.perf_counter() - start)
                    eager = float(np.median(times["eager"]))
                    for name, values in times.items():
                        key = (method, batch, name)
                        ratios.setdefault(key, []).append(eager / float(np.median(values)))
    one, five, _ = os.getloadavg()
    names = [b.name for b in live if b.name != "eager"]
    lines = [
        "## Timing loop: speed ratios under the old and the new `zoo bench` loop",
        "",
        f"`.venv/bin/python benchmarks/settle_ratio.py {args.source}` on "
        f"{datetime.date.today()}: {platform.node()}, {os.cpu_count()} CPUs, {threads} threads; "
        f"load average at the end {one:.1f} (1 min) / {five:.1f} (5 min). The same opened "
        f"backends of {source.name} ({'fresh' if source.weights is None else 'trained'} weights) "
        f"timed by each loop in turn, {args.repeats} times over; each cell is the median "
        "speed-up against eager (eager p50 ÷ backend p50) and, in brackets, the range over the "
        "repeats. Wall seconds are per loop and batch size.",
        "",
        "| loop | batch | wall s | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for batch in (1, 32):
        for method in methods:
            cells = []
            for name in names:
                values = ratios[(method, batch, name)]
                cells.append(
                    f"{statistics.median(values):.2f}× ({min(values):.2f}–{max(values):.2f})"
                )
            wall = statistics.median(walls[(method, batch)])
            lines.append(f"| {method} | {batch} | {wall:.1f} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    write_section("settle-ratio", text, args.results)
    print(text)


if __name__ == "__main__":
    main()
