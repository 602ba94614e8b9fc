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
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from results_file import write_section

from zoo.export import bench, runtimes
from zoo.export.backends import DEFAULT
from zoo.export.options import BenchRequest
from zoo.export.samples import load_samples
from zoo.machine import this_machine
from zoo.sources import SourceRequest

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


def new_interleaved(
    settle: float, request: BenchRequest, budget: float
) -> Callable[[dict[str, Callable[[], Any]]], dict]:
    """`zoo bench`'s loop with its default iterations and minimum time, on one batch size's
    share of the default --max-time, with ``settle`` seconds of pause before each slice."""

    def run(calls: dict[str, Callable[[], Any]]) -> dict[str, list[float]]:
        saved, bench.SETTLE_SECONDS = bench.SETTLE_SECONDS, settle
        try:
            timings = bench.interleaved(
                calls, iterations=request.iterations, min_seconds=request.min_time, budget=budget
            )
        finally:
            bench.SETTLE_SECONDS = saved
        return {label: timing.times for label, timing in timings.items()}

    return run


def slice_seconds(budget: float, backends: int) -> float:
    """How long each backend's slice of a round is in `zoo.export.bench.interleaved`."""
    rounds = 2 * bench.MIN_ROUNDS
    share = budget / (rounds * max(1, backends))
    return min(bench.SLICE_SECONDS, max(bench.MIN_SLICE_SECONDS, share))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default="cifar10-cnn")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()
    request = SourceRequest(spec=args.source)
    source = request.resolve()
    samples = load_samples(
        source.preprocessing, request.dataset_for(source), source.data_dir, 16, request.seed
    )
    defaults = BenchRequest(device="cpu")  # zoo bench's defaults, on the CPU
    batches = (1, 32)
    budget = defaults.max_time / len(batches)  # each batch size's share, as zoo bench splits it
    threads = torch.get_num_threads()
    ratios: dict[tuple[str, int, str], list[float]] = {}
    walls: dict[tuple[str, int], list[float]] = {}
    generator = np.random.default_rng(0)
    with (
        bench.files_to_bench(source, DEFAULT, samples, None, defaults) as files,
        runtimes.float32_torch(threads),
        torch.inference_mode(),
    ):
        rows = bench.open_rows(source, files, DEFAULT, False, ("cpu",), threads)
        live = [row for row in rows if row.opened is not None and row.timed]
        pause = f"{1000 * bench.SETTLE_SECONDS:.0f} ms pause each"
        new = f"new ({slice_seconds(budget, len(live)):.2g} s slices, {pause})"
        methods = {
            "old (50-call rounds, 20 ms pause each)": old_interleaved,
            new: new_interleaved(bench.SETTLE_SECONDS, defaults, budget),
            "new without the pause": new_interleaved(0.0, defaults, budget),
        }
        for batch in batches:
            raw, normalised = bench.synthetic_batch(source, batch, generator)
            calls = {}
            for row in live:
                assert row.opened is not None
                data = raw if row.backend.takes_raw(row.facts) else normalised
                calls[row.backend.name] = row.opened.timed(data)
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
    names = [row.backend.name for row in live if row.backend.name != "eager"]
    lines = [
        "## Timing loop: speed ratios under the old and the new `zoo bench` loop",
        "",
        f"`.venv/bin/python benchmarks/settle_ratio.py {args.source}` on "
        f"{datetime.date.today()}: {this_machine().text()}; {threads} threads; "
        f"load average at the end {one:.1f} (1 min) / {five:.1f} (5 min). The same opened "
        f"backends of {source.name} ({'fresh' if source.weights_file is None else 'trained'} weights) "
        f"timed by each loop in turn, {args.repeats} times over; each cell is the median "
        "speed-up against eager (eager p50 ÷ backend p50) and, in brackets, the range over the "
        "repeats. Wall seconds are per loop and batch size.",
        "",
        "| loop | batch | wall s | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for batch in batches:
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
