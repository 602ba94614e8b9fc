"""Run an exported ONNX file with ONNX Runtime: what a deployment machine runs.

Only PIL, numpy and onnxruntime are imported here, never torch. Inputs are prepared as the
metadata stored in the file says: resized to its input shape and converted to its channel count;
then, unless the file does it itself (``--embed-preprocessing``), scaled to [0, 1] and normalised
with its mean and std. An export directory means its float32 ONNX file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ZooError
from zoo.export import facts
from zoo.export.metadata import from_props

PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


@dataclass
class Prediction:
    """What the model says about one input: the top classes, or the regression outputs."""

    input: str
    labels: list[tuple[str, float]]  # (class, probability) best first, or (target, value)


def image_to_array(image: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A PIL image as uint8 C×H×W, converted to ``shape``'s channel count and resized to it."""
    channels, height, width = shape
    if channels not in PIL_MODES:
        raise ZooError(f"cannot feed images to a model with {channels} input channels")
    image = image.convert(PIL_MODES[channels])
    if image.size != (width, height):
        from PIL import Image

        image = image.resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def normalise(array: np.ndarray, mean: list[float] | None, std: list[float] | None) -> np.ndarray:
    """uint8 pixels to [0, 1], then ``(x - mean) / std`` along the channel (or feature) axis.

    ``array`` is a batch: N×C×H×W images or N×F features.
    """
    x = array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32)
    if mean is not None and std is not None:
        axis_shape = (1, -1) + (1,) * (x.ndim - 2)
        x = (x - np.asarray(mean, np.float32).reshape(axis_shape)) / np.asarray(
            std, np.float32
        ).reshape(axis_shape)
    return x


def read_input(text: str, shape: tuple[int, ...]) -> np.ndarray:
    """One input: an image file for image models, comma-separated numbers for feature models."""
    if len(shape) == 1:
        try:
            values = np.asarray([float(v) for v in text.split(",")], np.float32)
        except ValueError:
            raise ZooError(f"'{text}' is not {shape[0]} comma-separated numbers") from None
        if values.shape != shape:
            raise ZooError(f"the model takes {shape[0]} features, '{text}' has {values.size}")
        return values
    if len(shape) != 3:
        raise ZooError(f"cannot read inputs for a model taking shape {shape}")
    path = Path(text)
    if not path.is_file():
        raise ZooError(f"no image file '{text}'")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image_to_array(image, shape)
    except (UnidentifiedImageError, OSError) as exc:
        raise ZooError(f"cannot read image '{text}': {exc}") from None


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def onnx_file_of(directory: Path) -> Path:
    """The float32 ONNX file an export directory's manifest lists."""
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        raise ZooError(f"'{directory}' is a directory but not a 'zoo export' directory")
    try:
        entries = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ZooError(f"{manifest} is not a zoo export manifest: {exc}") from None
    onnx = [
        e
        for e in entries
        if e.get("format") == "onnx" and (e.get("facts") or {}).get("precision", "fp32") == "fp32"
    ]
    if not onnx:
        raise ZooError(f"'{directory}' holds no float32 ONNX file: export it with --onnx")
    return directory / onnx[0]["path"]


class Predictor:
    """An ONNX file exported by zoo (or an export directory's), run with ONNX Runtime on the CPU."""

    def __init__(self, path: str | Path) -> None:
        import onnxruntime as ort

        path = Path(path)
        if path.is_dir():
            path = onnx_file_of(path)
        if not path.is_file():
            raise ZooError(f"no ONNX file '{path}'")
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ZooError(
                f"ONNX Runtime cannot load '{path}': {str(exc).strip().splitlines()[0]}"
            ) from None
        props = self.session.get_modelmeta().custom_metadata_map
        self.meta = from_props(props)
        self.facts = facts.from_props(props)
        self.path = path
        if "input_shape" not in self.meta:
            raise ZooError(
                f"'{path}' carries no zoo metadata (input shape, classes): "
                "export it with 'zoo export'"
            )
        self.shape = tuple(self.meta["input_shape"])
        self.input_name = self.session.get_inputs()[0].name
        batch = self.session.get_inputs()[0].shape[0]
        self.fixed_batch = batch if isinstance(batch, int) else None

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Raw outputs for a normalised float32 batch (padded to a fixed batch size if need be)."""
        size = self.fixed_batch or len(batch)
        outputs = []
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            padded = np.concatenate(
                [chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)]
            )
            outputs.append(self.session.run(None, {self.input_name: padded})[0][: len(chunk)])
        return np.concatenate(outputs)

    def predict(self, inputs: list[str], top_k: int = 5) -> list[Prediction]:
        """Read, normalise and run ``inputs``: top-k classes and probabilities, or the outputs."""
        arrays = np.stack([read_input(text, self.shape) for text in inputs])
        if self.facts.input == facts.NORMALISED:
            arrays = normalise(arrays, self.meta.get("mean"), self.meta.get("std"))
        outputs = self.run(arrays)
        kind = "regression" if self.meta.get("task") == "regression" else self.facts.output
        names = list(self.meta.get("classes") or [])
        if len(names) != outputs.shape[1]:
            names = [str(i) for i in range(outputs.shape[1])]
        if kind == "regression":
            return [
                Prediction(text, list(zip(names, map(float, row), strict=True)))
                for text, row in zip(inputs, outputs, strict=True)
            ]
        if kind == facts.PROBABILITIES:
            probabilities = outputs
        else:
            probabilities = np.exp(outputs) if kind == "log_probs" else softmax(outputs)
        predictions = []
        for text, row in zip(inputs, probabilities, strict=True):
            best = np.argsort(-row, kind="stable")[:top_k]
            predictions.append(Prediction(text, [(names[i], float(row[i])) for i in best]))
        return predictions
