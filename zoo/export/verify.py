"""Parity between an exported file (or any backend) and eager: |a - b| <= atol + rtol·|b|."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ATOL = 1e-5
RTOL = 1e-5


@dataclass
class Parity:
    """How closely a backend's outputs match the reference's, over ``count`` inputs."""

    backend: str
    count: int
    max_abs: float
    max_rel: float
    tolerance_used: float  # the worst |a - b| / (atol + rtol·|b|); <= 1 passes
    top1_agreement: float | None  # fraction of identical argmax; None for regression
    passed: bool

    def summary(self) -> str:
        top1 = "" if self.top1_agreement is None else f", top-1 agreement {self.top1_agreement:.2%}"
        numbers = f"max |a-b| {self.max_abs:.3g}, max rel {self.max_rel:.3g}"
        return f"{numbers}{top1} over {self.count} inputs"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(
    backend: str, reference: np.ndarray, candidate: np.ndarray, classification: bool
) -> Parity:
    """Elementwise tolerance check plus top-1 agreement of ``candidate`` against ``reference``."""
    reference = np.asarray(reference, np.float64).reshape(len(reference), -1)
    candidate = np.asarray(candidate, np.float64).reshape(len(candidate), -1)
    if reference.shape != candidate.shape:
        return Parity(
            backend,
            len(reference),
            float("inf"),
            float("inf"),
            float("inf"),
            0.0 if classification else None,
            False,
        )
    difference = np.abs(candidate - reference)
    magnitude = np.abs(reference)
    finite = bool(np.isfinite(candidate).all())
    max_abs = float(difference.max()) if difference.size else 0.0
    max_rel = (
        float((difference / np.maximum(magnitude, np.finfo(np.float32).tiny)).max())
        if difference.size
        else 0.0
    )
    used = float((difference / (ATOL + RTOL * magnitude)).max()) if difference.size else 0.0
    top1 = float((candidate.argmax(1) == reference.argmax(1)).mean()) if classification else None
    passed = finite and used <= 1.0 and (top1 is None or top1 == 1.0)
    return Parity(backend, len(reference), max_abs, max_rel, used, top1, passed)
