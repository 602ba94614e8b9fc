"""Checking a file against eager, in one place for ``zoo export``, ``zoo verify`` and ``zoo
publish`` (whose release is an export): the inputs every file is verified on with eager's outputs
on them (kept beside the files as ``verification.npz``), and :func:`check_file`, which runs a file
on them and judges it by its precision's rule (:func:`zoo.export.parity.judge`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.artifacts.card import softmax
from zoo.artifacts.manifest import CHECKS_FILE, Parity
from zoo.export import runtimes
from zoo.export.options import ExportRequest
from zoo.export.parity import judge
from zoo.export.precisions import Precision
from zoo.export.samples import Samples
from zoo.files import MODE

__all__ = ["CHECKS_FILE", "Checks", "check_file", "prepare_checks", "read_checks", "save_checks"]


@dataclass(frozen=True)
class Checks:
    """What every file is verified on: inputs in the form the files take, eager's outputs."""

    feed: np.ndarray  # normalised inputs, or raw ones for files with embedded preprocessing
    reference: np.ndarray  # eager outputs (a softmax applied if the files end in one)
    single: np.ndarray  # eager's output for feed[:1] alone (the batch dimension is dynamic)
    classification: bool
    samples: Samples | None = None  # where the inputs came from (at export; not stored)
    labels: np.ndarray | None = None  # their labels, when they are labelled real samples


def prepare_checks(model: Any, output: str, samples: Samples, request: ExportRequest) -> Checks:
    """The inputs the files are fed (raw ones with embedded preprocessing) and eager's outputs
    on them, in float32, as the files give them (probabilities when they end in a softmax)."""
    feed = samples.raw if request.embed_preprocessing else samples.inputs
    eager = runtimes.torch_runner(model)
    with runtimes.float32_torch():
        reference = runtimes.run_in_chunks(eager, samples.inputs, request.batch or len(samples))
        single = eager(samples.inputs[:1])
    if request.softmax:
        reference, single = (
            np.exp(x) if output == "log_probs" else softmax(x) for x in (reference, single)
        )
    labels = samples.labels
    labelled = labels if labels is not None and len(labels) == len(feed) else None
    classification = output != "regression"
    return Checks(np.ascontiguousarray(feed), reference, single, classification, samples, labelled)


def save_checks(path: Path, checks: Checks) -> None:
    """The inputs and eager's outputs every file was verified on, for ``zoo verify``."""
    np.savez(
        path,
        feed=checks.feed,
        reference=checks.reference,
        single=checks.single,
        labels=checks.labels if checks.labels is not None else np.zeros(0),
    )
    os.chmod(path, MODE)


def read_checks(path: Path, classification: bool) -> Checks:
    """The checks an export stored (:func:`save_checks`)."""
    with np.load(path) as stored:
        labels = stored["labels"] if "labels" in stored.files and stored["labels"].size else None
        return Checks(
            stored["feed"], stored["reference"], stored["single"], classification, labels=labels
        )


def check_file(
    runner: runtimes.Runner,
    checks: Checks,
    batch: int | None,
    label: str,
    precision: Precision,
    certified: Parity | None = None,
) -> Parity:
    """A file on the check inputs (and, for a dynamic batch, on one alone: the batch dimension
    must really be dynamic) against eager's outputs, by ``precision``'s rule; re-checking a file
    (``certified``: its recorded verification), a precision judged by accuracy must agree with
    eager's top-1 at least as often as it did when certified."""
    candidate = runtimes.run_in_chunks(runner, checks.feed, batch or len(checks.feed))
    reference = checks.reference
    if batch is None:
        candidate = np.concatenate([candidate, runner(checks.feed[:1])])
        reference = np.concatenate([reference, checks.single])
    agreement = certified.top1_agreement if certified is not None else None
    return judge(label, reference, candidate, checks.classification, precision, agreement)
