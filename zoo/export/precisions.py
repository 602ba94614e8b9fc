"""The precisions an exported file or a bench row computes in, as registered objects.

float32 is every format's own; float16 and int8 are files derived from a verified float32 file
(``zoo export --fp16 --int8``: ONNX files by ONNX Runtime's and onnxconverter-common's tools, an
int8 OpenVINO IR by NNCF); bfloat16 is a run-time choice of a backend on the float32
file (OpenVINO's, PyTorch's autocast) where the hardware has it. Each says how it is judged: an
elementwise :class:`Tolerance` with top-1 agreement, or (int8) the top-1 accuracy gate. ``zoo export``'s precision flags and the manifest come from :data:`PRECISIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.artifacts.manifest import DYNAMIC, FLOAT16, STATIC, STATIC_PER_TENSOR, Calibration
from zoo.export.formats import INPUT_NAME

if TYPE_CHECKING:
    import numpy as np

ATOL = 1e-5
RTOL = 1e-5


@dataclass(frozen=True)
class Tolerance:
    """How far a backend may stray from eager, element by element: ``atol`` times each input's
    output scale (its largest |output|, but at least ``floor``) plus ``rtol``·|b|. Rounding errors
    grow with the size of the numbers summed, which the output scale stands for: an element near
    zero in a row of large logits gets the row's allowance, not a near-zero one."""

    atol: float
    rtol: float
    floor: float  # the smallest output scale: 1 keeps atol absolute for outputs below 1
    ties: bool = False  # a top-1 flip passes if the two classes are tied within the bound

    @property
    def rule(self) -> str:
        scale = f"max({self.floor:g}, max|b|)" if self.floor else "max|b|"
        ties = ", top-1 ties within it allowed" if self.ties else ", identical top-1"
        return f"|a−b| ≤ {self.atol:g}·{scale} + {self.rtol:g}·|b|{ties}"

    def bound(self, reference: np.ndarray) -> np.ndarray:
        """The allowed |a − b| for each element of a 2-D ``reference``."""
        import numpy as np

        magnitude = np.abs(reference)
        scale = np.maximum(magnitude.max(axis=1, keepdims=True), self.floor)
        return self.atol * scale + self.rtol * magnitude


FP32 = Tolerance(ATOL, RTOL, floor=1.0)
# float16 keeps 11 significant bits (relative rounding 4.9e-4 per op), and the error compounds
# layer by layer: the built-in models, trained or not, stay within 0.6 % of their output scale.
FP16 = Tolerance(1e-2, 1e-2, floor=0.0, ties=True)
# bfloat16 keeps 8 significant bits (3.9e-3 per op, 8× float16's): on OpenVINO's and PyTorch's
# bf16 paths the worst of cifar10-fast's 10,000 test images strays 7.7 % of its output scale
# (top-1 agreement 99.5 %, accuracy within 0.1 point), the other built-ins at most 4.3 %
# (cifar10-cnn; benchmarks/RESULTS.md, bf16_tolerance.py): 10 % leaves room for other data
BF16 = Tolerance(1e-1, 1e-1, floor=0.0, ties=True)


@dataclass(frozen=True)
class Derivation:
    """What deriving a file from a float32 file needs: the model (int8 picks static or dynamic
    quantisation by its layers), calibration inputs in the form the files take, the batch
    dimension; for accuracy control (NNCF), labelled inputs and the drop allowed, in points;
    ``method`` and ``per_channel`` pick one of ONNX Runtime's int8 flavours."""

    model: Any  # torch.nn.Module
    calibration: np.ndarray | None
    calibration_origin: str
    calibration_real: bool
    fixed_batch: int | None
    validation: tuple[np.ndarray, np.ndarray] | None = None  # (inputs, class labels)
    max_drop: float | None = None
    method: str | None = None  # static or dynamic; None: by the model's layers
    per_channel: bool = True


@dataclass(frozen=True)
class Derived:
    """How a derived file was made, for its facts."""

    quantisation: str
    calibration: Calibration | None = None


@dataclass(frozen=True)
class Precision:
    """One precision: its name (``fp16``, also its flag), how it is judged, and how a file of it
    is derived from the float32 ONNX file (None: not a file of its own)."""

    name: str
    title: str
    tolerance: Tolerance | None  # None: no elementwise bound, judged by top-1 accuracy (int8)
    help: str = ""
    # how a file of it is derived from a float32 file, by the format of that file
    derive: Mapping[str, Callable[[Path, Path, Derivation], Derived]] = field(default_factory=dict)
    gated: bool = False  # its accuracy is gated against the float32 file's (--max-accuracy-drop)

    @property
    def rule(self) -> str:
        if self.tolerance is not None:
            return self.tolerance.rule
        return "no elementwise bound: top-1 within the export's accuracy budget of float32's"


def derive_fp16(fp32: Path, out: Path, _: Derivation) -> Derived:
    from zoo.export import quantise

    quantise.float16(fp32, out)
    return Derived(FLOAT16)


def derive_int8(fp32: Path, out: Path, job: Derivation) -> Derived:
    from zoo.export import quantise

    method = job.method or quantise.method_for(job.model)
    calibration = None
    if method == quantise.STATIC:
        if job.calibration is None:
            raise quantise.ExportError("static int8 quantisation needs calibration samples")
        calibration = Calibration(
            job.calibration_origin, len(job.calibration), job.calibration_real
        )
    quantise.int8(
        fp32,
        out,
        method,
        job.calibration,
        input_name=INPUT_NAME,
        fixed_batch=job.fixed_batch,
        per_channel=job.per_channel,
    )
    if method == quantise.DYNAMIC:
        return Derived(DYNAMIC)
    return Derived(STATIC if job.per_channel else STATIC_PER_TENSOR, calibration)


def derive_int8_openvino(ir: Path, out: Path, job: Derivation) -> Derived:
    from zoo.export import ov_quantise

    how = ov_quantise.int8(ir, out, job.calibration, job.fixed_batch, job.validation, job.max_drop)
    assert job.calibration is not None
    calibration = Calibration(job.calibration_origin, len(job.calibration), job.calibration_real)
    return Derived(how, calibration)


PRECISIONS: dict[str, Precision] = {
    precision.name: precision
    for precision in (
        Precision("fp32", "float32", FP32),
        Precision(
            "fp16",
            "float16",
            FP16,
            help="Also write MODEL.fp16.onnx: float16 weights and activations, for GPUs.",
            derive={"onnx": derive_fp16},
            gated=True,
        ),
        Precision(
            "int8",
            "int8",
            None,
            help="Also write MODEL.int8.onnx (and an int8 IR beside an IR), top-1 checked.",
            derive={"onnx": derive_int8, "openvino": derive_int8_openvino},
            gated=True,
        ),
        Precision("bf16", "bfloat16", BF16),
    )
}
DERIVED = tuple(p for p in PRECISIONS.values() if p.derive)
