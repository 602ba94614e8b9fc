"""What a model card says a model cannot do, from the facts of its training and measurement:
a small training set, a small test set and its wide interval, synthetic data, its weakest
class, accuracy near chance, reduced-precision files' losses, fine-tuning, and what was not
tested at all."""

from __future__ import annotations

from zoo.artifacts.manifest import Manifest
from zoo.artifacts.run import ClassResult, DetailRow
from zoo.errors import ZooError
from zoo.publish.modelcard import ReleaseMetrics
from zoo.publish.plan import ReleasePlan, trained_on
from zoo.registry import get_dataset_info

SMALL_TRAINING = 10_000  # items: fewer, and the card says it is a small training set
SMALL_TEST = 1_000  # items: fewer, and the card says the interval is wide
WEAK_CLASS = 0.10  # a class this far below the overall accuracy is named


def limitations(checked: ReleasePlan, measured: ReleaseMetrics, manifest: Manifest) -> list[str]:
    """The card's limitations, most important first; the author's own note at the end."""
    lines = [*data_limits(checked, measured), *measurement_limits(checked, measured)]
    lines += precision_limits(manifest)
    if checked.card.initialised_from:
        lines.append(f"Fine-tuned from {checked.card.initialised_from}.")
    shape = "×".join(map(str, checked.card.input_shape))
    lines.append(
        f"It takes {shape} inputs prepared like those of {checked.card.dataset}; inputs of another kind "
        "(other sizes, which are resized, other domains, other devices) are out of its "
        "distribution and were not tested. Neither robustness, calibration nor fairness "
        "across groups was evaluated."
    )
    if checked.request.note:
        lines.append(checked.request.note)
    return lines


def data_limits(checked: ReleasePlan, measured: ReleaseMetrics) -> list[str]:
    """What its training data cannot support."""
    lines = []
    history = checked.run.history() if checked.run else []
    items = history[-1].train_items if history else 0
    dataset = checked.card.dataset
    if items and items < SMALL_TRAINING:
        lines.append(
            f"Trained on {trained_on(checked)}: a small training set, so expect lower "
            "accuracy than from a model trained on a full-size dataset of this kind."
        )
    elif not history:
        lines.append("The training run's log was not published with the file: its size is unknown.")
    if synthetic(dataset):
        lines.append(f"{dataset} is generated data: the model says nothing about real inputs.")
    return lines


def synthetic(dataset: str) -> bool:
    """Whether a dataset describes itself as generated (or synthetic) data."""
    try:
        description = get_dataset_info(dataset).description.lower()
    except ZooError:
        return False
    return "synthetic" in (dataset + description) or "generated" in description


def measurement_limits(checked: ReleasePlan, measured: ReleaseMetrics) -> list[str]:
    """What its measurement cannot support."""
    lines = []
    if measured.interval is not None:
        low, high = measured.interval
        width = 100 * (high - low)
        small = (
            " (a small test set: read the value with its interval)"
            if (measured.items < SMALL_TEST)
            else ""
        )
        lines.append(
            f"Measured once, on {measured.items:,} items of the {measured.source}: the 95 % "
            f"interval is {width:.1f} points wide{small}."
        )
        classes = len(checked.card.classes)
        if classes and measured.value < 1.5 / classes:
            lines.append(
                f"Its accuracy is close to chance ({100 / classes:.1f} % for {classes} "
                "classes): it has barely learnt the task."
            )
        lines += weakest_class(measured.rows, measured.value)
    else:
        lines.append(
            f"Measured once, on {measured.items:,} items of the {measured.source}; the mean "
            "absolute error is given without an interval."
        )
    return lines


def weakest_class(rows: list[DetailRow], overall: float) -> list[str]:
    scored = [
        (r.accuracy, r) for r in rows if isinstance(r, ClassResult) and r.accuracy is not None
    ]
    if not scored:
        return []
    accuracy, worst = min(scored, key=lambda pair: pair[0])
    if accuracy > overall - WEAK_CLASS:
        return []
    return [
        f"It is weakest on class '{worst.name}': {100 * accuracy:.1f} % of "
        f"{worst.total:,} items, against {100 * overall:.1f} % overall."
    ]


def precision_limits(manifest: Manifest) -> list[str]:
    """What the int8 and float16 files lose against the float32 one."""
    lines = []
    for entry in manifest.files:
        accuracy = entry.facts.accuracy
        if entry.precision == "fp32" or accuracy is None or accuracy.drop_points is None:
            continue
        lines.append(
            f"The {entry.precision} file `{entry.path}` differs from the float32 one by "
            f"{-accuracy.drop_points:+.2f} points of top-1 on {accuracy.samples:,} samples."
        )
    return lines
