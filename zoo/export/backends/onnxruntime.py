"""ONNX Runtime on the float32, int8 and float16 ONNX files: basic graph optimisation for parity
(the file as verified), full optimisation for latency, on the CPU or CUDA provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoo.export.backends.base import Backend, CallMaker, Opened, Opening


def onnx_call(session: Any) -> CallMaker:
    """Timed calls of an ONNX Runtime session (numpy in and out, whatever the provider)."""
    name = session.get_inputs()[0].name

    def make(data: Any) -> Callable[[], Any]:
        feed = {name: data}
        return lambda: session.run(None, feed)

    return make


def open_session(opening: Opening) -> Opened:
    from zoo.export import runtimes

    assert opening.file is not None
    basic, full = (
        runtimes.onnx_session(
            opening.file, optimisation=level, threads=opening.threads, device=opening.device
        )
        for level in ("basic", "all")
    )
    return Opened(
        runtimes.onnx_runner(basic),
        onnx_call(full),
        lambda: runtimes.session_settings(full),
        runtimes.onnx_runner(full),
    )


def missing_provider(device: str) -> str | None:
    import onnxruntime as ort

    from zoo.export import runtimes

    provider = runtimes.ORT_PROVIDERS[device.split(":")[0]]
    if provider not in ort.get_available_providers():
        return f"onnxruntime {ort.__version__} has no {provider} (install onnxruntime-gpu)"
    return None


ONNXRUNTIME = Backend(
    "onnxruntime", ("onnx", "fp32"), "fp32", ("cpu", "cuda"), open_session, missing_provider
)
ONNXRUNTIME_INT8 = Backend(
    "onnxruntime-int8", ("onnx", "int8"), "int8", ("cpu",), open_session, missing_provider
)
ONNXRUNTIME_FP16 = Backend(
    "onnxruntime-fp16", ("onnx", "fp16"), "fp16", ("cpu", "cuda"), open_session, missing_provider
)
