"""``zoo publish``: a run's kept weights as a release folder, then into a plugin, onto the Hub or
into a folder a web server serves.

Everything that can be refused is refused first (:func:`zoo.publish.plan.plan`): a run without
kept weights, a weights name that is not valid or already stands for another file, a plugin
project that does not register the model, no login or no network for the Hub. Then
(:func:`run`, :func:`build`) the release is written into a private folder beside ``--out`` and
renamed into place whole::

    MODEL-NAME-<first 8 of sha256>.safetensors   the run's kept file, unchanged (its card inside)
    MODEL.onnx [MODEL-int8.onnx ...]             verified and certified (zoo.export.pipeline)
    manifest.json, verification.npz              the export's record (zoo verify reads them)
    weights.json                                 the declaration, as zoo.meta.weights_index reads
    README.md                                    the model card (zoo.publish.modelcard)
    plots/                                       the run's curves, the confusion matrix

The metrics are measured again (:func:`zoo.train.evaluation.evaluate_weights`) on the chosen
split with the file being published, with the test-time augmentation its card records, and the
README carries them; the declaration says only where the file is, its sha256, name and note. The
export is checked on the test and calibration samples :mod:`zoo.export.samples` finds for every
command (a --data-dir named must hold the data; else the run's data folder).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.artifacts.manifest import MANIFEST, Manifest
from zoo.errors import ZooError
from zoo.export import pipeline
from zoo.export.parity import wilson
from zoo.export.samples import calibration_samples, evaluation_samples
from zoo.files import MODE, sha256_file, write_json, write_text
from zoo.meta import Weights
from zoo.publish import modelcard, plugin, targets
from zoo.publish.limits import limitations
from zoo.publish.modelcard import CardFacts, ReleaseMetrics
from zoo.publish.plan import ReleasePlan, kept_text, trained_on, training_command
from zoo.registry import get_model_info
from zoo.sources import WeightsFile
from zoo.train.eval_request import EvalRequest
from zoo.train.evaluation import evaluate_weights
from zoo.weights.releases import INDEX

CARD = "README.md"
Say = Callable[[str], None]


@dataclass(frozen=True)
class Published:
    """What ``zoo publish`` wrote and where the release went."""

    plan: ReleasePlan
    declaration: Weights  # the release's own (``file`` form)
    measured: ReleaseMetrics
    manifest: Manifest
    delivery: targets.Delivery | None = None
    pasted: Weights | None = None  # to paste (``url`` form, with --to), or the plugin's
    plugin_notes: tuple[str, ...] = ()


def ignore(_: str) -> None:
    """A ``say`` that says nothing."""


def run(checked: ReleasePlan, say: Say = ignore) -> Published:
    """Build the release ``checked`` plans and hand it on (``say`` hears what is being done)."""
    published = build(checked, say)
    if checked.target is not None:
        say(f"publishing to {checked.target.text}")
        delivery = targets.deliver(
            checked.target, checked.out, checked.file_name, commit_message(checked)
        )
        pasted = dataclasses.replace(published.declaration, file="", url=delivery.url)
        published = dataclasses.replace(published, delivery=delivery, pasted=pasted)
    if checked.package is not None:
        shipped = published.pasted is None  # the file goes into the package
        declared = published.pasted or dataclasses.replace(
            published.declaration, file=f"{plugin.WEIGHTS_FOLDER}/{checked.file_name}"
        )
        weights = checked.out / checked.file_name if shipped else None
        notes = plugin.add(checked.package, plugin.entry_json(declared), weights)
        published = dataclasses.replace(published, pasted=declared, plugin_notes=tuple(notes))
    return published


def commit_message(checked: ReleasePlan) -> str:
    return f"zoo publish: {checked.model} weights '{checked.name}' from run {checked.label}"


# -- the release ------------------------------------------------------------------------------


def build(checked: ReleasePlan, say: Say) -> Published:
    """Write the whole release beside ``--out``, then rename it into place."""
    staging = pipeline.staging_dir(checked.out)
    try:
        weights = staging / checked.file_name
        shutil.copyfile(checked.checkpoint, weights)
        os.chmod(weights, MODE)
        if sha256_file(weights) != checked.sha256:
            raise ZooError(f"{checked.checkpoint} changed while it was being published")
        say(f"measuring {checked.checkpoint} again on its {checked.request.split} split")
        measured = measure(checked, staging)
        check_claim(checked, measured)
        say("exporting to ONNX and verifying against PyTorch")
        manifest = export_release(checked, staging)
        plots = copy_plots(checked, staging)
        declaration = declare(checked)
        write_json(staging / INDEX, {checked.model: [plugin.entry_json(declaration)]})
        facts = card_facts(checked, declaration, measured, manifest, plots)
        write_text(staging / CARD, modelcard.render(facts))
        pipeline.commit_dir(staging, checked.out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Published(checked, declaration, measured, manifest)


def measure(checked: ReleasePlan, staging: Path) -> ReleaseMetrics:
    """The metrics again, on the declared split, with the file being published (the same bytes:
    its sha256 is checked); the confusion matrix goes into the release."""
    with tempfile.TemporaryDirectory(prefix="zoo-publish-eval-") as scratch:
        request = checked.request
        again = EvalRequest(
            data_dir=request.data_dir, split=request.split, device=request.device, out=scratch
        )
        result = evaluate_weights(WeightsFile(checked.checkpoint), again)
        confusion = Path(scratch) / "plots" / "confusion_matrix.png"
        if confusion.is_file():
            target = staging / "plots" / f"confusion_matrix-{checked.request.split}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(confusion, target)
    summary = result.summary
    if summary.weights_sha256 != checked.sha256:
        raise ZooError(f"{checked.checkpoint} changed while it was being measured")
    return ReleaseMetrics(
        metric=summary.metric,
        value=summary.value,
        loss=summary.loss,
        items=summary.items,
        split=checked.request.split,
        source=result.title.partition(", ")[2] or f"{checked.request.split} split",
        interval=wilson(summary.value, summary.items) if summary.per_class else None,
        rows=list(result.rows),
        date=datetime.date.today().isoformat(),
    )


def check_claim(checked: ReleasePlan, measured: ReleaseMetrics) -> None:
    """The weights' card is what users read of them (``zoo info``, ``zoo eval``): a figure it
    states for the split just measured must agree with the measurement (within its 95 %
    interval), or the release would publish a card that claims what the file does not score."""
    card, split, metric = checked.card, measured.split, measured.metric
    claimed = card.metrics.get(f"{split}_{metric}")
    if claimed is None and card.evaluated_on == f"the {split} split":
        claimed = card.metrics.get(metric)
    if claimed is None or measured.interval is None:
        return
    low, high = measured.interval
    if not low <= claimed <= high:
        raise ZooError(
            f"the card of {checked.checkpoint} states {metric} {100 * claimed:.2f} % on the "
            f"{split} split, and zoo measured {100 * measured.value:.2f} % (95 % CI "
            f"{100 * low:.2f}–{100 * high:.2f}): publish weights whose card says what they score "
            "(a run's own checkpoint does)"
        )


def export_release(checked: ReleasePlan, staging: Path) -> Manifest:
    """The verified export of the release's own copy of the weights (the same bytes), on the
    samples the weights' run finds (:func:`evaluation_samples`, :func:`calibration_samples`),
    its files moved up into the release; the manifest names the release's weights file."""
    request = checked.export
    test = evaluation_samples(checked.source, checked.data, request.accuracy_samples)
    calibration = None
    if "int8" in request.precisions:
        calibration = calibration_samples(checked.source, checked.data, request.calibration_samples)
    folder = staging / "export"
    copy = WeightsFile(staging / checked.file_name)
    checks = test.take(request.check_samples)
    manifest = pipeline.export(copy, folder, request, checks, test, calibration)
    exported = folder / manifest.export.weights_file
    if sha256_file(exported) != checked.sha256:
        raise ZooError("the export's copy of the weights differs from the file published")
    exported.unlink()
    for path in folder.iterdir():
        os.replace(path, staging / path.name)
    folder.rmdir()
    info = dataclasses.replace(manifest.export, weights_file=checked.file_name)
    manifest = dataclasses.replace(manifest, export=info)
    write_json(staging / MANIFEST, manifest.to_json())
    return manifest


def copy_plots(checked: ReleasePlan, staging: Path) -> list[tuple[str, str]]:
    """The run's curves and confusion matrix, and the one measured at publish time, with the
    captions the card gives them."""
    plots = []
    folder = checked.run.path / "plots" if checked.run else None
    metric = "accuracy" if not checked.card.regression else "mae"
    for stem, caption in (
        ("loss", "Training and validation loss, per epoch (the training run's)"),
        (metric, f"Training and validation {metric}, per epoch (the training run's)"),
        ("confusion_matrix", "Confusion matrix of the kept epoch, as training measured it"),
    ):
        if folder is not None and (folder / f"{stem}.png").is_file():
            (staging / "plots").mkdir(exist_ok=True)
            shutil.copyfile(folder / f"{stem}.png", staging / "plots" / f"{stem}.png")
            plots.append((f"plots/{stem}.png", caption))
    measured = f"plots/confusion_matrix-{checked.request.split}.png"
    if (staging / measured).is_file():
        caption = f"Confusion matrix on the {checked.request.split} split, measured at publish time"
        plots.insert(0, (measured, caption))
    return plots


# -- what the release says --------------------------------------------------------------------


def declare(checked: ReleasePlan) -> Weights:
    """The declaration: the file, its sha256, its name, a note (what it was trained on, and the
    user's); the rest is the card's, inside the file."""
    note = " ".join(filter(None, [f"Trained on {trained_on(checked)}.", checked.request.note]))
    return Weights(name=checked.name, sha256=checked.sha256, file=checked.file_name, note=note)


def card_facts(
    checked: ReleasePlan,
    declaration: Weights,
    measured: ReleaseMetrics,
    manifest: Manifest,
    plots: list[tuple[str, str]],
) -> CardFacts:
    path = checked.checkpoint
    return CardFacts(
        model=checked.model,
        description=get_model_info(checked.entry.qualified_name).description,
        source=checked.entry.source,
        declaration=declaration,
        card=checked.card,
        file_bytes=path.stat().st_size,
        parameters=parameter_count(path),
        measured=measured,
        manifest=manifest,
        command=training_command(checked),
        training=checked.training,
        trained_on=trained_on(checked),
        kept=kept_text(checked),
        plots=plots,
        limitations=limitations(checked, measured, manifest),
        license=checked.request.license,
        repo=checked.target.repo if checked.target else None,
    )


def parameter_count(path: Path) -> int:
    """Numbers stored in a safetensors file (its tensors' sizes), read without loading them."""
    from safetensors import safe_open

    total = 0
    with safe_open(str(path), "np") as handle:
        for key in handle.keys():  # noqa: SIM118 (safe_open is not a mapping)
            size = 1
            for dim in handle.get_slice(key).get_shape():
                size *= dim
            total += size
    return total


def describe(published: Published) -> dict[str, Any]:
    """The release as plain data: what ``zoo publish --json`` prints."""
    checked = published.plan
    return {
        "release": str(checked.out),
        "model": checked.model,
        "name": checked.name,
        "file": checked.file_name,
        "sha256": checked.sha256,
        "metric": modelcard.headline(published.measured),
        "files": [entry.path for entry in published.manifest.files],
        "declaration": plugin.entry_json(published.pasted or published.declaration),
        "published_to": published.delivery.where if published.delivery else None,
        "spec": published.delivery.spec if published.delivery else None,
        "plugin": str(checked.package.index) if checked.package else None,
        "notes": list(published.plugin_notes),
    }
