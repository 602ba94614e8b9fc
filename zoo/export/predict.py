"""Run an exported ONNX file with ONNX Runtime: what a deployment machine runs.

Only PIL, numpy and onnxruntime are imported here, never torch. Inputs are prepared as the
metadata stored in the file says: resized to its input shape, converted to its channel count,
scaled to [0, 1] and normalised with its mean and std.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.card import Preprocessing
from zoo.errors import ZooError, first_line
from zoo.export.metadata import from_props


@dataclass
class Prediction:
    """What the model says about one input: the top classes, or the regression outputs."""

    input: str
    labels: list[tuple[str, float]]  # (class, probability) best first, or (target, value)


def read_input(text: str, preprocessing: Preprocessing) -> np.ndarray:
    """One raw input: an image file for image models, comma-separated numbers for table models."""
    shape = preprocessing.input_shape
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
            return preprocessing.image_to_array(image)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ZooError(f"cannot read image '{text}': {first_line(exc)}") from None


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class Predictor:
    """An ONNX file exported by zoo, opened with ONNX Runtime on the CPU."""

    def __init__(self, path: str | Path) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ZooError(f"no ONNX file '{path}'")
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ZooError(f"ONNX Runtime cannot load '{path}': {first_line(exc)}") from None
        props = self.session.get_modelmeta().custom_metadata_map
        if "input_shape" not in props:
            raise ZooError(
                f"'{path}' carries no zoo metadata (input shape, classes): "
                "export it with 'zoo export'"
            )
        self.card, self.info = from_props(props, f"the metadata of '{path}'")
        self.input_name = self.session.get_inputs()[0].name
        batch = self.session.get_inputs()[0].shape[0]
        self.fixed_batch = batch if isinstance(batch, int) else None

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Raw outputs for a batch as the file takes it (padded to a fixed batch size if need be)."""
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
        """Read, prepare and run ``inputs``: top-k classes and probabilities, or the outputs."""
        preprocessing = self.card.preprocessing
        raw = np.stack([read_input(text, preprocessing) for text in inputs])
        outputs = self.run(preprocessing.normalise(raw))
        kind = self.card.output_kind
        names = list(self.card.classes)
        if len(names) != outputs.shape[1]:
            names = [str(i) for i in range(outputs.shape[1])]
        if kind == "regression":
            return [
                Prediction(text, list(zip(names, map(float, row), strict=True)))
                for text, row in zip(inputs, outputs, strict=True)
            ]
        probabilities = np.exp(outputs) if kind == "log_probs" else softmax(outputs)
        predictions = []
        for text, row in zip(inputs, probabilities, strict=True):
            best = np.argsort(-row, kind="stable")[:top_k]
            predictions.append(Prediction(text, [(names[i], float(row[i])) for i in best]))
        return predictions
