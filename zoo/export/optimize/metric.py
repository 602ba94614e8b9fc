"""What a candidate is judged by, per sample, so that two files are compared on the same items
(a paired difference, whose interval is far tighter than two separate intervals): top-1 in
percent for a classifier, mean absolute error for a regression model; with no labels, agreement
with the float32 file's own answers stands in for them. numpy only."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zoo.artifacts.decision import Figure
from zoo.export.parity import Z95, wilson

TOP1, MAE = "top-1 %", "MAE"
AGREEMENT = "top-1 agreement with float32 %"  # no labels: the float32 file's answers stand in
DEVIATION = "mean |Δ| from float32"  # no targets: the float32 file's outputs stand in


@dataclass(frozen=True)
class Metric:
    """A per-sample score and how to summarise it; ``higher_better`` for top-1."""

    name: str
    classification: bool

    @property
    def higher_better(self) -> bool:
        return self.classification

    @property
    def unit(self) -> str:
        return " %" if self.classification else ""

    def scores(self, outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Per sample: 100 for a right answer, 0 for a wrong one; or the absolute error."""
        flat = np.asarray(outputs, np.float64).reshape(len(outputs), -1)
        if self.classification:
            return 100.0 * (flat.argmax(1) == np.asarray(labels).reshape(-1))
        targets = np.asarray(labels, np.float64).reshape(len(labels), -1)
        return np.abs(flat - targets).mean(axis=1)

    def figure(self, scores: np.ndarray) -> Figure:
        """The mean with its 95 % interval: Wilson's for a proportion, the normal one else."""
        count = len(scores)
        value = float(scores.mean()) if count else 0.0
        if self.classification:
            low, high = wilson(value / 100, count)
            return Figure(value, 100 * low, 100 * high, count)
        return Figure(value, *normal_interval(scores), count)

    def drop(self, reference: np.ndarray, candidate: np.ndarray) -> Figure:
        """How much worse ``candidate`` is than ``reference`` on the same items (positive is
        worse: points of top-1 lost, or MAE gained), with the paired 95 % interval."""
        difference = reference - candidate if self.higher_better else candidate - reference
        return Figure(float(difference.mean()), *normal_interval(difference), len(difference))


def normal_interval(values: np.ndarray) -> tuple[float, float]:
    """The mean ± 1.96 standard errors (the sample's standard deviation over √n)."""
    count = len(values)
    if count < 2:
        return float("-inf"), float("inf")
    mean = float(values.mean())
    half = Z95 * float(values.std(ddof=1)) / math.sqrt(count)
    return mean - half, mean + half


def metric_for(regression: bool, labelled: bool) -> Metric:
    if regression:
        return Metric(MAE if labelled else DEVIATION, classification=False)
    return Metric(TOP1 if labelled else AGREEMENT, classification=True)
