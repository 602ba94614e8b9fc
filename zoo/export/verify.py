"""Parity between an exported file (or any backend) and eager, and top-1 accuracy on labels.

Parity is elementwise: |a − b| ≤ atol + rtol·|b|, with ``atol`` in absolute units (float32 files)
or as a fraction of each input's largest output magnitude (float16 files, whose rounding error
grows with the values). Top-1 must agree too. At float32 a top-1 flip fails even when every
element is within tolerance: a file that changes a prediction is not the model. At float16 a flip
between two classes that eager ranks closer than the tolerance is a tie at that precision, which
no float16 file can be blamed for breaking.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

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

    def describe(self) -> str:
        scale = f"max({self.floor:g}, max|b|)" if self.floor else "max|b|"
        return f"|a−b| ≤ {self.atol:g}·{scale} + {self.rtol:g}·|b|"

    def bound(self, reference: np.ndarray) -> np.ndarray:
        """The allowed |a − b| for each element of a 2-D ``reference``."""
        magnitude = np.abs(reference)
        scale = np.maximum(magnitude.max(axis=1, keepdims=True), self.floor)
        return self.atol * scale + self.rtol * magnitude


FP32 = Tolerance(ATOL, RTOL, floor=1.0)
# float16 keeps 11 significant bits (relative rounding 4.9e-4 per op), and the error compounds
# layer by layer: the built-in models, trained or not, stay within 0.6 % of their output scale.
FP16 = Tolerance(1e-2, 1e-2, floor=0.0, ties=True)


@dataclass
class Parity:
    """How closely a backend's outputs match the reference's, over ``count`` inputs."""

    backend: str
    count: int
    max_abs: float
    max_rel: float
    tolerance_used: float | None  # the worst |a - b| / (atol + rtol·|b|); <= 1 passes
    top1_agreement: float | None  # fraction of identical argmax; None for regression
    passed: bool
    tolerance: str = FP32.describe()

    def summary(self) -> str:
        top1 = "" if self.top1_agreement is None else f", top-1 agreement {self.top1_agreement:.2%}"
        numbers = f"max |a-b| {self.max_abs:.3g}, max rel {self.max_rel:.3g}"
        return f"{numbers}{top1} over {self.count} inputs"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(
    backend: str,
    reference: np.ndarray,
    candidate: np.ndarray,
    classification: bool,
    tolerance: Tolerance = FP32,
) -> Parity:
    """Elementwise tolerance check plus top-1 agreement of ``candidate`` against ``reference``."""
    reference = np.asarray(reference, np.float64).reshape(len(reference), -1)
    candidate = np.asarray(candidate, np.float64).reshape(len(candidate), -1)
    described = tolerance.describe()
    if reference.shape != candidate.shape or not reference.size:
        failed = 0.0 if classification else None
        inf = float("inf")
        return Parity(backend, len(reference), inf, inf, inf, failed, False, described)
    difference = np.abs(candidate - reference)
    magnitude = np.abs(reference)
    bound = tolerance.bound(reference)
    finite = bool(np.isfinite(candidate).all())
    max_abs = float(difference.max())
    max_rel = float((difference / np.maximum(magnitude, np.finfo(np.float32).tiny)).max())
    used = float((difference / np.maximum(bound, np.finfo(np.float64).tiny)).max())
    top1, ties_only = None, True
    if classification:
        expected, got = reference.argmax(1), candidate.argmax(1)
        top1 = float((expected == got).mean())
        rows = np.flatnonzero(expected != got)
        best = reference[rows, expected[rows]]
        runner_up = reference[rows, got[rows]]
        ties = best - runner_up <= 2 * bound[rows, expected[rows]]
        ties_only = not len(rows) or (tolerance.ties and bool(ties.all()))
    passed = finite and used <= 1.0 and ties_only
    return Parity(backend, len(reference), max_abs, max_rel, used, top1, passed, described)


def top1_accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of ``outputs`` whose argmax is the label."""
    outputs = np.asarray(outputs).reshape(len(outputs), -1)
    return float((outputs.argmax(1) == np.asarray(labels).reshape(-1)).mean())
