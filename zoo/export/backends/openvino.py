"""OpenVINO on the CPU, on the float32 ONNX file and on OpenVINO IR files (float32, and int8 from
NNCF): float32 pinned (its CPU plugin computes in bf16 by default where the CPU has native bf16),
and bf16 rows of their own on such CPUs."""

from __future__ import annotations

import importlib.util

from zoo.export.backends.base import Backend, Opened, Opening
from zoo.machine import native_bf16


def missing() -> str | None:
    """Why OpenVINO cannot run here, or None."""
    if importlib.util.find_spec("openvino") is None:
        return "openvino is not installed (pip install 'torch-zoo[openvino]')"
    return None


def opener(precision: str):  # type: ignore[no-untyped-def]
    def open_openvino(opening: Opening) -> Opened:
        from zoo.export import runtimes

        assert opening.file is not None
        run, make, effective = runtimes.openvino_runner(opening.file, opening.threads, precision)
        return Opened(run, make, lambda: {"INFERENCE_PRECISION_HINT": effective()})

    return open_openvino


def missing_bf16(device: str) -> str | None:
    if not native_bf16():
        return "this CPU has no native bfloat16 (AVX512_BF16 or AMX): OpenVINO would emulate it"
    return missing()


OPENVINO = Backend(
    "openvino", ("onnx", "fp32"), "fp32", ("cpu",), opener("fp32"), lambda device: missing()
)
OPENVINO_BF16 = Backend(
    "openvino-bf16", ("onnx", "fp32"), "bf16", ("cpu",), opener("bf16"), missing_bf16
)
OPENVINO_IR = Backend(
    "openvino-ir", ("openvino", "fp32"), "fp32", ("cpu",), opener("fp32"), lambda device: missing()
)
OPENVINO_IR_BF16 = Backend(
    "openvino-ir-bf16", ("openvino", "fp32"), "bf16", ("cpu",), opener("bf16"), missing_bf16
)
OPENVINO_IR_INT8 = Backend(
    "openvino-ir-int8",
    ("openvino", "int8"),
    "int8",
    ("cpu",),
    opener("fp32"),  # the file's int8 layers run in int8; the rest stay float32
    lambda device: missing(),
)
