"""The typed description of a trained model, and the one definition of its input preprocessing.

A :class:`ModelCard` says what a set of weights is: the model and its arguments, the data it was
trained on, its classes, how raw inputs become the tensor it takes (:class:`Preprocessing`), how it
was trained and how well it scores. The trainer writes it into every checkpoint; eval, export,
predict and bench read it. It travels in three containers, each converted in one place here:
safetensors metadata (:meth:`ModelCard.to_json`, under the key ``"zoo"``), ONNX ``metadata_props``
(:meth:`ModelCard.to_props`) and the export manifest (:meth:`ModelCard.to_json`).

Like torchvision's ``Weights.meta`` and timm's ``PretrainedCfg``, but one frozen object. No torch
here (numpy only where a batch is prepared): ``zoo predict`` uses it on machines without PyTorch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError

if TYPE_CHECKING:
    import numpy as np

CARD_VERSION = 1
RESIZE_FILTERS = ("bilinear", "bicubic", "nearest")
PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
TASKS = ("classification", "regression")
OUTPUTS = ("logits", "log_probs", "regression")
TTA_MODES = ("none", "flip", "flip-translate")  # test-time augmentation views (zoo.tta)


@dataclass(frozen=True)
class Preprocessing:
    """How a raw input becomes the model's input tensor, for training and deployment alike.

    Images: converted to ``input_shape``'s channel count (16-bit images scaled to 8 bits, alpha
    dropped), resized to its height and width with ``resize`` if they differ, then
    ``(pixels / 255 - mean) / std`` per channel. Table rows: ``(features - mean) / std``.
    """

    input_shape: tuple[int, ...]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize: str = "bilinear"

    @property
    def image(self) -> bool:
        return len(self.input_shape) == 3

    @property
    def scale(self) -> float:
        """What raw values are divided by before normalising: 255 for uint8 pixels, 1 for rows."""
        return 255.0 if self.image else 1.0

    def affine(self) -> tuple[list[float], list[float]]:
        """Per-channel ``(multiplier, offset)`` with ``normalised = raw * multiplier + offset``."""
        mean = self.mean or (0.0,)
        std = self.std or (1.0,)
        return [1.0 / (self.scale * s) for s in std], [
            -m / s for m, s in zip(mean, std, strict=True)
        ]

    def image_to_array(self, image: Any) -> np.ndarray:
        """A PIL image as uint8 C×H×W, converted and resized as this preprocessing says."""
        import numpy as np

        channels, height, width = self.input_shape
        prepared = prepare_image(image, channels, (height, width), self.resize)
        array = np.asarray(prepared, dtype=np.uint8)
        return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)

    def normalise(self, batch: np.ndarray) -> np.ndarray:
        """A raw batch (uint8 N×C×H×W images or N×F rows) as the float32 tensor the model takes."""
        import numpy as np

        multiplier, offset = (np.asarray(v, np.float32) for v in self.affine())
        axis = (1, -1) + (1,) * (batch.ndim - 2)
        values = batch.astype(np.float32)
        if self.image and batch.dtype != np.uint8:  # float images already in [0, 1]
            values = values * np.float32(255)
        return values * multiplier.reshape(axis) + offset.reshape(axis)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from a batch of logits (N×classes), as predict and bench read them."""
    import numpy as np

    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def prepare_image(
    image: Any, channels: int, size: tuple[int, int], resize: str = "bilinear"
) -> Any:
    """A PIL image in the mode for ``channels`` and of ``size`` (height, width).

    16-bit and 32-bit integer images (16-bit PNGs) are scaled to 8 bits instead of clipped, so a
    16-bit scan looks like its 8-bit copy; other modes use PIL's conversion (alpha is dropped).
    """
    import numpy as np
    from PIL import Image

    if channels not in PIL_MODES:
        raise ZooError(f"cannot feed images to a model with {channels} input channels")
    if image.mode in SIXTEEN_BIT_MODES:
        pixels = np.asarray(image, dtype=np.int64)
        image = Image.fromarray((np.clip(pixels, 0, 65535) >> 8).astype(np.uint8), mode="L")
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8), mode="L")
    image = image.convert(PIL_MODES[channels])
    height, width = size
    if (image.height, image.width) != (height, width):
        image = image.resize((width, height), Image.Resampling[resize.upper()])
    return image


@dataclass(frozen=True)
class ModelCard:
    """Everything a deployment needs to know about a set of weights (see the module docstring)."""

    model: str
    preprocessing: Preprocessing
    classes: tuple[str, ...] = ()  # class names, or the names of regression targets
    task: str = "classification"
    output: str = "logits"  # "logits", "log_probs" or "regression"
    model_args: Mapping[str, Any] = field(default_factory=dict)
    dataset: str = ""
    dataset_args: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)  # the options that trained it
    seed: int | None = None
    epoch: int | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    evaluated_on: str = ""  # what the metrics were measured on, e.g. "the test split"
    # the test-time augmentation the weights are evaluated with (their run's --tta): what eval,
    # export, bench and predict use unless told otherwise ("": a card from before it was recorded)
    evaluation_tta: str = ""
    run: str = ""
    initialised_from: str = ""  # weights a fine-tuning run started from
    weights_sha256: str = ""  # of the safetensors file; never stored inside that file
    zoo_version: str = ""
    torch_version: str = ""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.preprocessing.input_shape

    @property
    def regression(self) -> bool:
        return self.task == "regression"

    @property
    def output_kind(self) -> str:
        """``logits``, ``log_probs`` or ``regression``: how to read the model's outputs."""
        return "regression" if self.regression else self.output

    def with_(self, **changes: Any) -> ModelCard:
        """A copy with some fields changed (the card is frozen)."""
        return replace(self, **changes)

    # -- containers -------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data, preprocessing fields at the top level (safetensors, manifest)."""
        data: dict[str, Any] = {"card_version": CARD_VERSION}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "preprocessing":
                data.update(
                    input_shape=list(value.input_shape),
                    mean=list(value.mean) if value.mean is not None else None,
                    std=list(value.std) if value.std is not None else None,
                    resize=value.resize,
                )
            elif isinstance(value, tuple):
                data[item.name] = list(value)
            elif isinstance(value, Mapping):
                data[item.name] = dict(value)
            else:
                data[item.name] = value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "the model card") -> ModelCard:
        """The inverse of :meth:`to_json`; damaged or foreign data is a one-line error."""
        try:
            shape = tuple(int(d) for d in data["input_shape"])
            preprocessing = Preprocessing(
                shape,
                _floats(data.get("mean")),
                _floats(data.get("std")),
                str(data.get("resize") or "bilinear"),
            )
            known = {f.name for f in fields(cls)} - {"preprocessing"}
            values = {key: data[key] for key in known if data.get(key) is not None}
            values["classes"] = tuple(str(c) for c in values.get("classes", ()))
            values["metrics"] = {str(k): float(v) for k, v in values.get("metrics", {}).items()}
            card = cls(preprocessing=preprocessing, **values)
        except (KeyError, TypeError, ValueError) as exc:
            raise ZooError(
                f"{where} is damaged or not zoo's: {type(exc).__name__}: {exc}"
            ) from None
        card.check(where)
        return card

    def to_props(self) -> dict[str, str]:
        """Flat string key/values (ONNX ``metadata_props``): text as it is, the rest as JSON."""
        return {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in self.to_json().items()
        }

    @classmethod
    def from_props(cls, props: Mapping[str, str], where: str = "the file's metadata") -> ModelCard:
        """The inverse of :meth:`to_props`."""
        text = {f.name for f in fields(cls) if f.type == "str"} | {"resize"}
        data = {key: value if key in text else _json(value) for key, value in props.items()}
        return cls.from_json(data, where)

    def check(self, where: str) -> None:
        """Refuse values no zoo code could have written."""
        problems = [
            (self.task in TASKS, f"task '{self.task}'"),
            (self.output in OUTPUTS, f"output '{self.output}'"),
            (self.preprocessing.resize in RESIZE_FILTERS, f"resize '{self.preprocessing.resize}'"),
            (self.evaluation_tta in ("", *TTA_MODES), f"evaluation_tta '{self.evaluation_tta}'"),
            (all(d > 0 for d in self.input_shape) and self.input_shape, "input shape"),
            (
                all(
                    values is None or len(values) in (1, self.input_shape[0])
                    for values in (self.preprocessing.mean, self.preprocessing.std)
                ),
                "mean/std length",
            ),
        ]
        bad = [what for ok, what in problems if not ok]
        if bad:
            raise ZooError(f"{where} has an invalid {', '.join(bad)}")


def _floats(values: Any) -> tuple[float, ...] | None:
    return None if values is None else tuple(float(v) for v in values)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # a key zoo does not know (another tool's metadata) stays text


class CardFacts:
    """What anything holding a model card (``self.card``) says through it: a resolved source,
    what an export is made from."""

    card: ModelCard

    @property
    def name(self) -> str:
        return self.card.model

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.card.input_shape

    @property
    def preprocessing(self) -> Preprocessing:
        return self.card.preprocessing
