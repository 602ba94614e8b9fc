"""The bench backends, as registered objects: one module per runtime, one line each below.

A :class:`Backend` names the file it runs (a format and a precision, or the eager model), the
precision it computes in (and so the rule its parity is judged by), the devices it runs on, how
it is opened, and why it cannot run here. ``zoo bench``'s ``--backends`` choices and help come
from :data:`BACKENDS`. Adding a backend: a module defining one and its line below.
"""

from __future__ import annotations

from zoo.export.backends import eager, onnxruntime, openvino, torch_files
from zoo.export.backends.base import Backend, CallMaker, Opened, Opening

BACKENDS: dict[str, Backend] = {
    backend.name: backend
    for backend in (
        eager.EAGER,
        eager.EAGER_BF16,
        eager.EAGER_FP16,
        torch_files.TORCHSCRIPT,
        torch_files.EXPORTED_PROGRAM,
        onnxruntime.ONNXRUNTIME,
        onnxruntime.ONNXRUNTIME_INT8,
        onnxruntime.ONNXRUNTIME_FP16,
        openvino.OPENVINO,
        openvino.OPENVINO_BF16,
        openvino.OPENVINO_IR,
        openvino.OPENVINO_IR_BF16,
        openvino.OPENVINO_IR_INT8,
    )
}
# timed unless --backends says otherwise (with an export directory's: those whose file it holds)
DEFAULT = (
    "eager",
    "eager-bf16",
    "eager-fp16",
    "torchscript",
    "exported-program",
    "onnxruntime",
    "openvino",
    "openvino-bf16",
)

__all__ = ["BACKENDS", "DEFAULT", "Backend", "CallMaker", "Opened", "Opening"]
