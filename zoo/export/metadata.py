"""The deployment metadata every exported file carries, as flat string key/values (no torch).

ONNX keeps it in ``metadata_props``; TorchScript and ExportedProgram files keep the same dict as
JSON in an extra file named :data:`EXTRA_FILE`. The exported graph takes *normalised* input:
``(pixels / 255 - mean) / std`` for images, ``(features - mean) / std`` for tables.
"""

from __future__ import annotations

import json
from typing import Any

EXTRA_FILE = "zoo.json"
NO_CHECKPOINT = "none"
JSON_FIELDS = (
    "model_args",
    "classes",
    "input_shape",
    "mean",
    "std",
    "dataset_args",
    "seed",
    "opset",
)
FIELDS = (
    "model",
    "model_args",
    "dataset",
    "dataset_args",
    "task",
    "output",
    "classes",
    "input_shape",
    "mean",
    "std",
    "input",
    "checkpoint",
    "checkpoint_sha256",
    "seed",
    "batch",
    "zoo_version",
    "torch_version",
)
INPUT_CONVENTION = (
    "normalised: (x / 255 - mean) / std for uint8 images, (x - mean) / std for features"
)


def to_props(meta: dict[str, Any]) -> dict[str, str]:
    """Metadata as string key/values: text stays text, everything else becomes JSON."""
    props = {}
    for key, value in meta.items():
        props[key] = (
            json.dumps(value) if key in JSON_FIELDS or not isinstance(value, str) else value
        )
    return props


def from_props(props: dict[str, str]) -> dict[str, Any]:
    """The inverse of :func:`to_props`."""
    meta: dict[str, Any] = {}
    for key, value in props.items():
        meta[key] = json.loads(value) if key in JSON_FIELDS else value
    return meta


def output_kind(meta: dict[str, Any]) -> str:
    """``logits``, ``log_probs`` or ``regression``."""
    if meta.get("task") == "regression":
        return "regression"
    return meta.get("output") or "logits"
