"""Predict with an exported ONNX file, or the file ``zoo optimize`` chose with the runtime and
settings it chose (ONNX Runtime or OpenVINO): what a deployment machine runs. The file is chosen
and opened by :mod:`zoo.deployed`, as ``zoo serve`` opens it.

Only PIL, numpy, onnxruntime and openvino are imported here, never torch (a PyTorch file a
decision chose is opened by the caller's opener). Inputs are prepared as the model card stored in
the file says (:class:`zoo.artifacts.card.Preprocessing`): converted to its channel
count and resized to its input shape (and the prediction says so when it had to); then, unless
the file does it itself (``--embed-preprocessing``), scaled and normalised. An export directory
means its decision's file, or its float32 ONNX file; a file of an export directory runs only if it
is one its manifest lists, unchanged (sha256: :func:`zoo.artifacts.manifest.checked_file`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from zoo.artifacts.card import PIL_MODES, ModelCard, Preprocessing, softmax
from zoo.artifacts.decision import RunWith
from zoo.artifacts.manifest import (
    NORMALISED,
    PROBABILITIES,
    FileFacts,
    Manifest,
    checked_file,
    from_props,
)
from zoo.deployed import chosen, open_runtime
from zoo.errors import ZooError, first_line


@dataclass
class Prediction:
    """What the model says about one input: the top classes, or the regression outputs."""

    input: str
    labels: list[tuple[str, float]]  # (class, probability) best first, or (target, value)
    notes: list[str] = field(default_factory=list)  # conversions applied to the input


@dataclass(frozen=True)
class Input:
    """One input read as the model takes it, and what had to be done to it."""

    array: np.ndarray
    conversion: str = ""  # "RGB 32×32 converted to L and resized to 28×28 (bilinear)"


def read_input(text: str, preprocessing: Preprocessing) -> Input:
    """One raw input: an image file for image models, comma-separated numbers for table models."""
    shape = preprocessing.input_shape
    if len(shape) == 1:
        try:
            values = np.asarray([float(v) for v in text.split(",")], np.float32)
        except ValueError:
            raise ZooError(f"'{text}' is not {shape[0]} comma-separated numbers") from None
        if values.shape != shape:
            raise ZooError(f"the model takes {shape[0]} features, '{text}' has {values.size}")
        return Input(values)
    if len(shape) != 3:
        raise ZooError(f"cannot read inputs for a model taking shape {shape}")
    path = Path(text)
    if not path.is_file():
        raise ZooError(f"no image file '{text}'")
    return read_image(path, preprocessing, f"image '{text}'")


def read_image(
    file: Path | BinaryIO,
    preprocessing: Preprocessing,
    what: str,
    formats: tuple[str, ...] | None = None,
    max_pixels: int | None = None,
) -> Input:
    """An image file (a path, or bytes in a file object: ``zoo serve``'s request bodies) as the
    model takes it; ``formats`` (PIL's names) and ``max_pixels`` refuse others before decoding."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file, formats=formats) as image:
            if max_pixels is not None and image.width * image.height > max_pixels:
                raise ZooError(
                    f"{what} is {image.width}×{image.height}, over {max_pixels:,} pixels"
                )
            return Input(preprocessing.image_to_array(image), conversion(image, preprocessing))
    except UnidentifiedImageError as exc:  # its text names the file, or a Python object
        detail = first_line(exc) if isinstance(file, Path) else "not an image it can decode"
        raise ZooError(f"cannot read {what}: {detail}") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ZooError(f"cannot read {what}: {first_line(exc)}") from None


def conversion(image: object, preprocessing: Preprocessing) -> str:
    """What preparing ``image`` for the model changes: its mode, its size; "" when nothing."""
    channels, height, width = preprocessing.input_shape
    mode, size = getattr(image, "mode", ""), getattr(image, "size", (width, height))
    wanted = PIL_MODES.get(channels, "")
    changes = []
    if mode != wanted:
        changes.append(f"converted to {wanted}")
    if tuple(size) != (width, height):
        changes.append(f"resized to {width}×{height} ({preprocessing.resize})")
    if not changes:
        return ""
    return f"{mode} {size[0]}×{size[1]} " + " and ".join(changes) + " for the model"


FEW_INPUTS = 16  # up to this many inputs, one thread: measured faster from a cold start
Call = Callable[[np.ndarray], np.ndarray]
Opener = Callable[[Path, RunWith], tuple[Call, dict[str, str], Any]]


class Predictor:
    """An ONNX file exported by zoo, or an export directory's file (``zoo optimize``'s choice,
    run with its runtime and settings, else its float32 ONNX file), run on the CPU."""

    def __init__(
        self,
        path: str | Path,
        inputs: int = 0,
        torch_opener: Opener | None = None,
        checked: bool = False,
    ) -> None:
        """``path``: an ONNX file or an export directory, checked against its manifest's sha256
        before it runs unless the caller ``checked`` it just now. ``inputs``: how many inputs
        will be predicted, when known; a few run on one thread, which starts faster than a
        thread pool that would only wait (0: the runtime's default). ``torch_opener`` opens a
        PyTorch file a decision chose (this module never imports torch: the caller passes it
        where torch may be loaded)."""
        path = Path(path)
        run = None
        if not path.exists():
            raise ZooError(f"no ONNX file or export directory '{path}'")
        if path.is_dir():
            found = chosen(path, Manifest.read(path))
            path, run = found.path, found.run
        elif not checked:
            path = checked_file(path)
        if run is not None and run.runtime == "torch":
            if torch_opener is None:
                raise ZooError(f"{path.parent} chose a PyTorch file, which needs torch to run")
            self.call, props, _ = torch_opener(path, run)
        else:
            few = 1 if 0 < inputs <= FEW_INPUTS else 0
            runtime = open_runtime(
                path,
                run.runtime if run is not None else "onnxruntime",
                run.threads if run is not None else few,
                run.settings if run is not None else None,
                spin=True,  # ONNX Runtime's default: this process does nothing else meanwhile
            )
            name, props = runtime.inputs[0].name, runtime.props
            self.call = lambda batch: runtime.run({name: batch})[0]
        metadata = from_props(props, f"'{path}'")
        self.card, self.info, self.facts = metadata.card, metadata.info, metadata.facts
        self.path, self.runs = path, run

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Raw outputs for a batch as the file takes it (padded to a fixed batch size if need be)."""
        return self.call(batch)

    def predict(self, inputs: list[str], top_k: int = 5) -> list[Prediction]:
        """Read, prepare and run ``inputs``: top-k classes and probabilities, or the outputs."""
        preprocessing = self.card.preprocessing
        read = [read_input(text, preprocessing) for text in inputs]
        raw = np.stack([item.array for item in read])
        outputs = self.run(model_input(raw, preprocessing, self.facts))
        labels = answers(outputs, self.card, self.facts, top_k)
        return [
            Prediction(text, row, [item.conversion] if item.conversion else [])
            for text, row, item in zip(inputs, labels, read, strict=True)
        ]


def model_input(raw: np.ndarray, preprocessing: Preprocessing, facts: FileFacts) -> np.ndarray:
    """A raw batch (uint8 images, feature rows) as the file takes it: normalised, unless the
    file normalises itself (``--embed-preprocessing``)."""
    return raw if facts.input != NORMALISED else preprocessing.normalise(raw)


def answers(
    outputs: np.ndarray, card: ModelCard, facts: FileFacts, top_k: int
) -> list[list[tuple[str, float]]]:
    """What each row of a file's outputs says: its top-k (class, probability) best first, from
    logits, log-probabilities or the file's own probabilities; or every (target, value) of a
    regression model."""
    kind = "regression" if card.regression else facts.output
    names = list(card.classes)
    if len(names) != outputs.shape[1]:
        names = [str(i) for i in range(outputs.shape[1])]
    if kind == "regression":
        return [list(zip(names, map(float, row), strict=True)) for row in outputs]
    if kind == PROBABILITIES:
        probabilities = outputs
    else:
        probabilities = np.exp(outputs) if kind == "log_probs" else softmax(outputs)
    return [
        [(names[i], float(row[i])) for i in np.argsort(-row, kind="stable")[:top_k]]
        for row in probabilities
    ]
