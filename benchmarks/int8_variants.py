"""Which ONNX Runtime static-quantisation settings run an exported model fastest here?

    .venv/bin/zoo export RUN --onnx --out /tmp/vggx
    .venv/bin/python benchmarks/int8_variants.py /tmp/vggx/cifar10-vgg.onnx

Quantises one float32 ONNX file with several settings (QDQ or QOperator, with or without
``quant_pre_process``, uint8 or int8 activations, per-channel or per-tensor weights), calibrated
on random inputs (the speed does not depend on the calibration), and times each against the
float32 file with ONNX Runtime on 2 threads at batch 1 and 32: p50 of 2 s of calls each.
zoo's ``--int8`` is the first row.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

U8, S8 = QuantType.QUInt8, QuantType.QInt8
VARIANTS = {  # name: (pre-processed, format, activations, weights, per channel)
    "QDQ, pre-processed, u8 activations, s8 weights per channel (zoo --int8)": (
        True, QuantFormat.QDQ, U8, S8, True
    ),
    "QDQ, not pre-processed": (False, QuantFormat.QDQ, U8, S8, True),
    "QOperator, pre-processed": (True, QuantFormat.QOperator, U8, S8, True),
    "QDQ, s8 activations": (True, QuantFormat.QDQ, S8, S8, True),
    "QDQ, per-tensor weights": (True, QuantFormat.QDQ, U8, S8, False),
    "QDQ, u8 weights": (True, QuantFormat.QDQ, U8, U8, True),
}  # fmt: skip


class RandomImages(CalibrationDataReader):
    def __init__(self, name: str, shape: tuple[int, ...]) -> None:
        batches = [np.random.rand(8, *shape).astype(np.float32) for _ in range(4)]
        self.batches = iter({name: batch} for batch in batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def p50_ms(path: Path, name: str, shape: tuple[int, ...], batch: int) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {name: np.random.rand(batch, *shape).astype(np.float32)}
    for _ in range(3):
        session.run(None, feed)
    times, end = [], time.perf_counter() + 2.0
    while time.perf_counter() < end:
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("onnx", type=Path, help="a float32 ONNX file written by zoo export")
    args = parser.parse_args()
    first = ort.InferenceSession(str(args.onnx), providers=["CPUExecutionProvider"]).get_inputs()
    name, shape = first[0].name, tuple(first[0].shape[1:])
    base = {batch: p50_ms(args.onnx, name, shape, batch) for batch in (1, 32)}
    print("| file | p50 ms, batch 1 | speed-up | p50 ms, batch 32 | speed-up |")
    print("|---|---|---|---|---|")
    print(f"| float32 | {base[1]:.3f} | 1.00× | {base[32]:.2f} | 1.00× |")
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(args.onnx), str(prepared))
        for label, (pre, fmt, activations, weights, per_channel) in VARIANTS.items():
            out = Path(scratch) / "int8.onnx"
            quantize_static(
                str(prepared if pre else args.onnx), str(out), RandomImages(name, shape),
                quant_format=fmt, activation_type=activations, weight_type=weights,
                per_channel=per_channel,
            )  # fmt: skip
            p50 = {batch: p50_ms(out, name, shape, batch) for batch in (1, 32)}
            print(
                f"| int8: {label} | {p50[1]:.3f} | {base[1] / p50[1]:.2f}× | {p50[32]:.2f} | "
                f"{base[32] / p50[32]:.2f}× |"
            )


if __name__ == "__main__":
    main()
