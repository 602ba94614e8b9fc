"""The parity gate itself (zoo/export/parity.py ``compare``): every element within
``atol·max(1, row scale) + rtol·|reference|``, every output finite, every top-1 class the same."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.export.parity import compare
from zoo.export.precisions import ATOL, FP32


def logits(count: int = 64, classes: int = 10) -> np.ndarray:
    """Outputs whose top class leads the runner-up by at least 0.5 (no near ties)."""
    rows = np.random.default_rng(0).uniform(-3.0, 3.0, (count, classes)).astype(np.float32)
    rows[np.arange(count), np.arange(count) % classes] = 4.0
    return rows


def tolerance(reference: np.ndarray) -> np.ndarray:
    return FP32.bound(reference.astype(np.float64))


def test_outputs_within_tolerance_pass() -> None:
    reference = logits()
    candidate = reference + 0.5 * tolerance(reference)
    parity = compare("onnx", reference, candidate, classification=True)
    assert parity.passed and parity.top1_agreement == 1.0
    assert parity.tolerance_used == pytest.approx(0.5, rel=1e-3)
    assert parity.count == 64


def test_one_bad_element_among_many_good_ones_fails() -> None:
    reference = logits()
    candidate = reference + 0.1 * tolerance(reference)
    candidate[17, 3] = reference[17, 3] + 10 * tolerance(reference)[17, 3]  # not the top class
    ratios = np.abs(candidate - reference) / tolerance(reference)
    assert ratios.mean() < 1  # a check of the mean would pass it
    parity = compare("onnx", reference, candidate, classification=True)
    assert not parity.passed
    assert parity.top1_agreement == 1.0  # it is the one element, not the class, that fails
    assert parity.tolerance_used == pytest.approx(10, rel=1e-3)
    assert parity.max_abs == pytest.approx(10 * tolerance(reference)[17, 3], rel=1e-3)


@pytest.mark.parametrize("classification", [True, False])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_output_fails(classification: bool, bad: float) -> None:
    """Caught twice over: by the finiteness condition, and because a NaN or infinite output
    makes the worst element's ratio NaN or infinite; either alone fails it."""
    reference = logits()
    candidate = reference.copy()
    candidate[5, 9] = bad
    parity = compare("tensorrt", reference, candidate, classification=classification)
    assert not parity.passed


def test_a_top1_flip_within_tolerance_fails() -> None:
    reference = logits()
    reference[3] = 0.0
    reference[3, :2] = [2.0, 2.0 + 1e-5]  # a near tie: class 1 leads by less than the tolerance
    candidate = reference.copy()
    candidate[3, :2] = [2.0 + 1e-5, 2.0]  # class 0 leads now
    assert (np.abs(candidate - reference) <= tolerance(reference)).all()
    parity = compare("torchscript", reference, candidate, classification=True)
    assert parity.tolerance_used <= 1.0
    assert parity.top1_agreement == pytest.approx(63 / 64)
    assert not parity.passed


@pytest.mark.parametrize("shape", [(64, 9), (63, 10), (64, 10, 1, 2)])
def test_a_shape_mismatch_fails(shape: tuple[int, ...]) -> None:
    reference = logits()
    candidate = np.zeros(shape, np.float32)
    parity = compare("onnx", reference, candidate, classification=True)
    assert not parity.passed and parity.tolerance_used == float("inf")


def test_regression_has_no_top1_and_passes_within_tolerance() -> None:
    reference = np.random.default_rng(1).normal(0, 1e4, (32, 2))  # large values: rtol matters
    candidate = reference + 0.9 * tolerance(reference) * np.sign(reference)
    parity = compare("onnx", reference, candidate, classification=False)
    assert parity.passed and parity.top1_agreement is None
    assert parity.max_abs > ATOL  # passes through the relative part of the tolerance
    worse = reference + 1.1 * tolerance(reference)
    assert not compare("onnx", reference, worse, classification=False).passed


def test_an_element_near_zero_gets_its_rows_allowance() -> None:
    """Found by hand: a trained CNN's logit near zero, off by 1.7e-5 in ONNX Runtime, failed a
    per-element absolute 1e-5 although the row's logits were about 10; float32 rounding scales
    with the numbers summed, so the row's scale sets the allowance."""
    reference = 3 * logits()  # rows up to 12
    reference[0, 5] = 1e-3
    candidate = reference.copy()
    candidate[0, 5] += 2e-5
    assert ATOL * 1.001 < 2e-5  # over an absolute 1e-5
    assert compare("onnx", reference, candidate, classification=True).passed
    small = logits() / 100  # rows below 1: the allowance stays absolute
    candidate = small.copy()
    candidate[0, 5] += 2e-5
    assert not compare("onnx", small, candidate, classification=True).passed
