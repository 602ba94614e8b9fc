"""The samples ``zoo optimize`` measures on: a selection sample and a confirmation sample of the
test split, stratified by class and disjoint (one stratified draw, cut in two, so that each half
is balanced), and calibration inputs from the training split. Without labelled data it refuses,
naming what to pass, unless random inputs are allowed (accuracy is then not measured)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo.errors import ArgumentError, ZooError
from zoo.export.options import OptimizeRequest
from zoo.export.samples import (
    Samples,
    calibration_samples,
    evaluation_samples,
    missing_data_hint,
    random_samples,
)
from zoo.sources import Source, SourceRequest


@dataclass(frozen=True)
class OptimizeData:
    """The selection and confirmation samples (disjoint) and the calibration inputs."""

    selection: Samples
    confirmation: Samples
    calibration: Samples
    labelled: bool  # accuracy is measured against real labels (or regression targets)
    draw: int = 0  # the stratified draw's count asked for, cut into the two samples

    def check_disjoint(self) -> None:
        """Refuse samples that share an item: confirming on what the choice was made on would
        report the choice's own optimism."""
        shared = overlap(self.selection, self.confirmation)
        if shared:
            raise ZooError(
                f"the selection and confirmation samples share {shared} item(s): the confirmed "
                "figure would not be independent of the choice"
            )


def overlap(first: Samples, second: Samples) -> int:
    """How many items two samples share: by item number in the split where both have them,
    else by content."""
    if first.index is not None and second.index is not None:
        return len(np.intersect1d(first.index, second.index))
    rows = {row.tobytes() for row in np.ascontiguousarray(first.raw)}
    return sum(row.tobytes() in rows for row in np.ascontiguousarray(second.raw))


def has_targets(samples: Samples, regression: bool) -> bool:
    if regression:
        return samples.real and samples.labels is not None
    return samples.labelled


def split(samples: Samples, selection: int, confirmation: int) -> tuple[Samples, Samples]:
    """One stratified draw cut in two: the first part to choose on, the rest to confirm on
    (each part balanced, since a stratified draw interleaves the classes); shared in proportion
    when the split holds fewer items than both ask for."""
    count = len(samples)
    first = min(count - 1, max(1, round(count * selection / (selection + confirmation))))
    parts = (np.arange(first), np.arange(first, count))
    names = ("selection", "confirmation")
    return tuple(  # type: ignore[return-value]
        samples.subset(part, f"{len(part):,} of {samples.origin} (the {name} sample)")
        for part, name in zip(parts, names, strict=True)
    )


def load_data(source: Source, request: OptimizeRequest, wanted: SourceRequest) -> OptimizeData:
    """The samples for ``source``'s dataset (the one named, an export's, the weights'), or a
    clear refusal naming what to pass."""
    preprocessing = source.preprocessing
    count = request.selection_samples + request.confirmation_samples
    speed_only = "--allow-random-inputs to optimise for speed and parity only"
    try:
        test: Samples | None = evaluation_samples(source, wanted, count)
    except ZooError as exc:  # a --data-dir that was named and lacks the data
        if not request.allow_random_inputs:
            raise ArgumentError(f"{exc}; or {speed_only}") from None
        test = None
    regression = source.card.regression
    calibration = calibration_samples(source, wanted, request.calibration_samples)
    if test is not None and has_targets(test, regression) and len(test) >= 2:
        selection, confirmation = split(
            test, request.selection_samples, request.confirmation_samples
        )
        return OptimizeData(selection, confirmation, calibration, True, count)
    if not request.allow_random_inputs:  # (a missing named --data-dir was refused above)
        assert test is not None
        dataset = wanted.dataset_for(source)
        hint = missing_data_hint(dataset) if dataset else "pass --dataset NAME and --data-dir DIR"
        raise ArgumentError(
            f"zoo optimize needs labelled test data for '{source.name}' and found none "
            f"({test.origin}): {hint}, or {speed_only}"
        )
    why = "--allow-random-inputs: accuracy not measured"
    selection = random_samples(preprocessing, request.selection_samples, wanted.seed, why)
    confirmation = random_samples(preprocessing, request.confirmation_samples, wanted.seed + 1, why)
    return OptimizeData(selection, confirmation, calibration, False)
