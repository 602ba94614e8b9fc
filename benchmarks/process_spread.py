"""How far the same ONNX Runtime timing moves from one fresh process to the next on this machine.

    .venv/bin/python benchmarks/process_spread.py FILE.onnx --processes 6

Each process loads the file, warms up (20 calls), then times batch-1 calls for one second and
prints their p50; nothing else differs between the processes. The spread (largest ÷ smallest
p50) is the floor under any agreement two `zoo bench` runs can show for that file here.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

CHILD = """
import statistics, sys, time
import numpy as np, onnxruntime as ort
options = ort.SessionOptions()
options.intra_op_num_threads = int(sys.argv[2])
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
first = session.get_inputs()[0]
shape = [1, *(d if isinstance(d, int) else 1 for d in first.shape[1:])]
feed = {first.name: np.random.rand(*shape).astype(np.float32)}
for _ in range(20):
    session.run(None, feed)
times, end = [], time.perf_counter() + 1.0
while time.perf_counter() < end:
    start = time.perf_counter()
    session.run(None, feed)
    times.append(time.perf_counter() - start)
print(1000 * statistics.median(times))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("onnx", help="a float32 ONNX file (zoo export writes them)")
    parser.add_argument("--processes", type=int, default=6)
    args = parser.parse_args()
    print("| ONNX Runtime threads | p50 ms in each fresh process | largest ÷ smallest |")
    print("|---|---|---|")
    for threads in (2, 1):
        p50s = [
            float(subprocess.check_output([sys.executable, "-c", CHILD, args.onnx, str(threads)]))
            for _ in range(args.processes)
        ]
        shown = ", ".join(f"{p:.3f}" for p in p50s)
        print(f"| {threads} | {shown} (median {statistics.median(p50s):.3f}) | "
              f"{max(p50s) / min(p50s):.2f}× |")  # fmt: skip


if __name__ == "__main__":
    main()
