"""What each exported file is: its precision, how it was quantised and calibrated, what it takes
and returns, and how accurate it measured. No torch here: `zoo predict` reads these facts.

The facts travel as frozen dataclasses; :func:`to_props` (ONNX ``metadata_props`` and the extra
file of the torch formats) and :func:`to_manifest` (``manifest.json``) are the only two places
that turn them into strings and dicts, and :func:`from_props` the only one that reads them back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PRECISIONS = ("fp32", "fp16", "int8")
# what a file's graph takes
NORMALISED = "normalised"  # float32, (x / 255 − mean) / std for images, (x − mean) / std for rows
UINT8_NCHW = "uint8 NCHW"  # raw pixels 0..255, N×C×H×W; the graph scales and normalises
RAW_FEATURES = "raw features"  # float32 feature rows before (x − mean) / std; the graph normalises
# what a file's graph returns beyond the model's own output (logits, log_probs, regression)
PROBABILITIES = "probabilities"
NOT_QUANTISED = "none"
STATIC = "static: QDQ, int8 weights per channel, uint8 activations calibrated on samples"
DYNAMIC = "dynamic: int8 weights per channel, activation ranges computed at run time"
FLOAT16 = "float16 weights and activations (onnxconverter-common, float32 input and output)"


@dataclass(frozen=True)
class Calibration:
    """The inputs static quantisation measured activation ranges on."""

    origin: str  # e.g. "300 images of the digits train split"
    count: int
    real: bool


@dataclass(frozen=True)
class Accuracy:
    """Top-1 of a file on labelled test samples, beside the float32 ONNX file's on the same ones.

    ``top1`` is None when accuracy was not checked (no real labelled data); ``origin`` says why.
    """

    top1: float | None
    reference_top1: float | None
    samples: int
    origin: str

    @property
    def drop_points(self) -> float | None:
        """How many percentage points below the float32 file, when both were measured."""
        if self.top1 is None or self.reference_top1 is None:
            return None
        return round(100 * (self.reference_top1 - self.top1), 6)


@dataclass(frozen=True)
class FileFacts:
    """One exported file's precision, quantisation, calibration, input/output and accuracy."""

    precision: str = "fp32"
    quantisation: str = NOT_QUANTISED
    input: str = NORMALISED
    output: str = "logits"  # logits, log_probs, regression or probabilities
    calibration: Calibration | None = None
    accuracy: Accuracy | None = None
    max_accuracy_drop: float | None = None  # the gate an int8 file passed, in points


def to_props(facts: FileFacts) -> dict[str, str]:
    """The facts as flat string key/values for a file's metadata (``takes`` and ``returns``: the
    model card already has an ``output``, the model's own)."""
    props = {
        "precision": facts.precision,
        "quantisation": facts.quantisation,
        "takes": facts.input,
        "returns": facts.output,
    }
    if facts.calibration is not None:
        props["calibration"] = facts.calibration.origin
        props["calibration_count"] = str(facts.calibration.count)
        props["calibration_real"] = json.dumps(facts.calibration.real)
    if facts.accuracy is not None:
        props["accuracy_top1"] = json.dumps(facts.accuracy.top1)
        props["accuracy_reference_top1"] = json.dumps(facts.accuracy.reference_top1)
        props["accuracy_samples"] = str(facts.accuracy.samples)
        props["accuracy_origin"] = facts.accuracy.origin
    if facts.max_accuracy_drop is not None:
        props["max_accuracy_drop"] = json.dumps(facts.max_accuracy_drop)
    return props


def from_props(props: Mapping[str, str]) -> FileFacts:
    """The facts stored by :func:`to_props`; files from before them read as float32, normalised."""
    calibration = accuracy = None
    if "calibration" in props:
        calibration = Calibration(
            props["calibration"],
            int(props["calibration_count"]),
            json.loads(props["calibration_real"]),
        )
    if "accuracy_samples" in props:
        accuracy = Accuracy(
            json.loads(props["accuracy_top1"]),
            json.loads(props["accuracy_reference_top1"]),
            int(props["accuracy_samples"]),
            props["accuracy_origin"],
        )
    drop = props.get("max_accuracy_drop")
    return FileFacts(
        precision=props.get("precision", "fp32"),
        quantisation=props.get("quantisation", NOT_QUANTISED),
        input=props.get("takes", NORMALISED),
        output=props.get("returns") or props.get("output", "logits"),
        calibration=calibration,
        accuracy=accuracy,
        max_accuracy_drop=json.loads(drop) if drop is not None else None,
    )


def to_manifest(facts: FileFacts) -> dict[str, Any]:
    """The facts as a nested JSON object for ``manifest.json``."""
    accuracy = facts.accuracy
    return {
        "precision": facts.precision,
        "quantisation": facts.quantisation,
        "input": facts.input,
        "output": facts.output,
        "calibration": None
        if facts.calibration is None
        else {
            "origin": facts.calibration.origin,
            "count": facts.calibration.count,
            "real": facts.calibration.real,
        },
        "accuracy": None
        if accuracy is None
        else {
            "top1": accuracy.top1,
            "reference_top1": accuracy.reference_top1,
            "drop_points": accuracy.drop_points,
            "samples": accuracy.samples,
            "origin": accuracy.origin,
            "checked": accuracy.top1 is not None,
        },
        "max_accuracy_drop": facts.max_accuracy_drop,
    }


def from_manifest(entry: dict[str, Any]) -> FileFacts:
    """The facts of one ``manifest.json`` file entry (float32, normalised for older manifests)."""
    data = entry.get("facts")
    if not data:
        return FileFacts()
    calibration, accuracy = data.get("calibration"), data.get("accuracy")
    return FileFacts(
        precision=data["precision"],
        quantisation=data["quantisation"],
        input=data["input"],
        output=data["output"],
        calibration=None
        if calibration is None
        else Calibration(calibration["origin"], calibration["count"], calibration["real"]),
        accuracy=None
        if accuracy is None
        else Accuracy(
            accuracy["top1"], accuracy["reference_top1"], accuracy["samples"], accuracy["origin"]
        ),
        max_accuracy_drop=data.get("max_accuracy_drop"),
    )
