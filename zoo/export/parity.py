"""Parity between an exported file (or any backend) and eager, and top-1 accuracy on labels with
its 95 % confidence interval. numpy only.

Parity is elementwise: each element may stray from eager's by ``atol`` times its input's output
scale plus ``rtol``·|b|, and top-1 must agree. At float32 a top-1 flip fails even when every
element is within tolerance: a file that changes a prediction is not the model. At reduced
precision (float16, bfloat16) a flip between two classes that eager ranks closer than the
tolerance is a tie at that precision, which no such file can be blamed for breaking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from zoo.artifacts.manifest import Parity
from zoo.export.precisions import FP32, Precision, Tolerance

Z95 = 1.959964  # the normal quantile of a two-sided 95 % interval


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
    rule = tolerance.rule
    if reference.shape != candidate.shape or not reference.size:
        failed = 0.0 if classification else None
        inf = float("inf")
        return Parity(backend, len(reference), inf, inf, inf, failed, False, rule)
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
    return Parity(backend, len(reference), max_abs, max_rel, used, top1, passed, rule)


def judge(
    label: str,
    reference: np.ndarray,
    candidate: np.ndarray,
    classification: bool,
    precision: Precision,
    agreement: float | None = None,
) -> Parity:
    """``candidate`` against eager's ``reference`` by ``precision``'s rule: within its tolerance;
    or, for a precision judged by top-1 accuracy (int8, whose gate is measured on labelled
    samples, not here), finite outputs of the right shape that agree with eager's top-1 at least
    as often as ``agreement`` (what its certificate recorded, when a certified file is checked
    again). One rule for export, verify and bench alike."""
    if precision.tolerance is not None:
        return compare(label, reference, candidate, classification, precision.tolerance)
    parity = compare(label, reference, candidate, classification, FP32)
    held = math.isfinite(parity.max_abs) and (parity.top1_agreement or 0.0) >= (agreement or 0.0)
    return replace(parity, tolerance_used=None, passed=held, tolerance=precision.rule)


def top1_accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of ``outputs`` whose argmax is the label."""
    outputs = np.asarray(outputs).reshape(len(outputs), -1)
    return float((outputs.argmax(1) == np.asarray(labels).reshape(-1)).mean())


@dataclass(frozen=True)
class Top1:
    """A top-1 accuracy with the sample it was measured on and its Wilson 95 % interval."""

    value: float
    samples: int
    low: float
    high: float

    def text(self) -> str:
        """``73.22 % (95 % CI 72.3–74.1, n=10,000)``."""
        return (
            f"{100 * self.value:.2f} % (95 % CI {100 * self.low:.1f}–{100 * self.high:.1f}, "
            f"n={self.samples:,})"
        )

    @classmethod
    def of(cls, value: float, samples: int) -> Top1:
        """A top-1 measured on ``samples`` items, with its interval."""
        return cls(value, samples, *wilson(value, samples))


def top1(outputs: np.ndarray, labels: np.ndarray) -> Top1:
    """Top-1 accuracy of ``outputs`` on ``labels``, with its interval."""
    return Top1.of(top1_accuracy(outputs, labels), len(labels))


def wilson(fraction: float, count: int) -> tuple[float, float]:
    """The Wilson score 95 % interval of a proportion observed on ``count`` trials: honest at
    small samples and near 0 % or 100 %, where the normal approximation is not."""
    if count <= 0:
        return 0.0, 1.0
    z2 = Z95 * Z95
    centre = (fraction + z2 / (2 * count)) / (1 + z2 / count)
    half = Z95 * math.sqrt(fraction * (1 - fraction) / count + z2 / (4 * count * count))
    half /= 1 + z2 / count
    return max(0.0, centre - half), min(1.0, centre + half)
