"""Optional metadata that models and datasets attach to themselves.

A plugin attaches metadata with :func:`model_info` / :func:`dataset_info`, or, without importing
zoo at all, with a plain dict in an attribute named ``zoo_info``. Everything is optional: an entry
without metadata is described by its docstring's first line.

A model may declare trained :class:`Weights` (like torchvision's ``Weights`` enums and timm's
``pretrained_cfg``): named files with their sha256, what they were trained on and how well they
score. The first declared are the model's ``default`` ones (timm's rule: the first tag wins).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, TypeVar

from zoo.artifacts.card import TTA_MODES, Preprocessing
from zoo.artifacts.config import FIELDS, field_default, partial
from zoo.errors import ArgumentError

ATTRIBUTE = "zoo_info"
F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_WEIGHTS = "default"  # names the first weights a model declares
WEIGHT_SCHEMES = ("https", "http", "file", "hf")
WEIGHTS_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
REQUIRED_WEIGHTS = {  # what a weights declaration must name, and what each is
    "name": "what users pass to --weights",
    "sha256": "the file's sha256, 64 lower-case hex digits: sha256sum FILE",
}


@dataclass(frozen=True, init=False)
class Recipe:
    """The training recipe a model was published with, as a partial training configuration:
    any of :class:`~zoo.artifacts.config.TrainConfig`'s fields by name, each checked by the
    field's own type and rule (``Recipe(optimizer="sgd", lr=0.1, label_smoothing=0.2)``), and a
    ``note``: where it comes from and how it differs from its source. ``zoo train`` starts from
    it; what it leaves out is TrainConfig's default. ``recipe.lr`` reads a field either way.

    ``options={...}``, how recipes named the fields beyond the first eight before a recipe was
    a partial configuration, is still read: its keys are fields like the others."""

    values: dict[str, Any]
    note: str

    def __init__(
        self, note: str = "", options: Mapping[str, Any] | None = None, **values: Any
    ) -> None:
        try:
            checked = partial({**(options or {}), **values}, "recipe")
        except ArgumentError as exc:  # metadata zoo cannot use: a TypeError, as for zoo_info
            raise TypeError(str(exc)) from None
        object.__setattr__(self, "values", checked)
        object.__setattr__(self, "note", str(note))

    def __getattr__(self, name: str) -> Any:
        if name in FIELDS:
            return self.values.get(name, field_default(name))
        raise AttributeError(f"'Recipe' has no field '{name}'")

    def to_json(self) -> dict[str, Any]:
        return {**self.values, "note": self.note}


UNDECLARED_RECIPE = Recipe()  # a model whose metadata names no recipe gets zoo's defaults, this one


# what declarations stated beside the file before zoo read it from the file's card: accepted,
# kept in ``Weights.stated``, and never preferred to the card
CARD_FACTS = (
    "dataset", "dataset_args", "classes", "input_shape", "mean", "std", "resize", "metrics",
    "split", "tta", "command", "zoo_version",
)  # fmt: skip


@dataclass(frozen=True, init=False)
class Weights:
    """Trained weights a model declares: where the safetensors file is (``file``, a path inside
    the declaring package, or ``url``: https://, http://, file:// or hf://OWNER/REPO/PATH with an
    optional @REVISION), its ``sha256``, its ``name`` (what ``--weights`` takes) and a ``note``
    (what a user should know: a small training set, a deviation from the published recipe).

    What the weights are is their file's model card's, and zoo reads it there: the classes,
    input shape and normalisation, the dataset, the metrics and the test-time augmentation they
    are measured with, how they were trained. Declarations written before (``dataset``,
    ``classes``, ``metrics``, ``tta``... beside the location) are still accepted; those facts are
    kept in ``stated`` and the card wins (a ``tta`` is used only for a card written before cards
    recorded theirs).
    """

    name: str
    sha256: str
    file: str
    url: str
    note: str
    stated: Mapping[str, Any]

    def __init__(
        self,
        name: str,
        sha256: str,
        file: str = "",
        url: str = "",
        note: str = "",
        stated: Mapping[str, Any] | None = None,
        **earlier: Any,
    ) -> None:
        unknown = sorted(set(earlier) - set(CARD_FACTS))
        if unknown:
            raise TypeError(f"unknown Weights field(s): {', '.join(unknown)}")
        for key, value in (("name", name), ("sha256", sha256), ("file", file), ("url", url)):
            object.__setattr__(self, key, value)
        object.__setattr__(self, "note", note)
        object.__setattr__(self, "stated", {**(stated or {}), **earlier})

    @property
    def location(self) -> str:
        """The URL, or ``package file PATH``, for people."""
        return self.url or f"package file {self.file}"

    @property
    def stated_tta(self) -> str:
        """The TTA an older declaration stated ("" for none)."""
        return str(self.stated.get("tta") or "")

    def check(self) -> None:
        """Refuse declarations zoo cannot use, naming the field (a TypeError, as for zoo_info)."""
        problems = []
        if not WEIGHTS_NAME.match(self.name) or self.name == DEFAULT_WEIGHTS:
            problems.append(
                f"name {self.name!r} (lower-case letters, digits, '-', '_', '.'; "
                f"not '{DEFAULT_WEIGHTS}', which names the first weights)"
            )
        if not SHA256.match(self.sha256):
            problems.append("sha256 (64 lower-case hex digits)")
        if bool(self.file) == bool(self.url):
            problems.append("location (give exactly one of 'file' and 'url')")
        scheme = self.url.partition("://")[0]
        if self.url and ("://" not in self.url or scheme not in WEIGHT_SCHEMES):
            problems.append(f"url {self.url!r} ({', '.join(s + '://' for s in WEIGHT_SCHEMES)})")
        if self.file and (self.file.startswith("/") or ".." in self.file.split("/")):
            problems.append(f"file {self.file!r} (a path inside the package)")
        if self.stated_tta not in ("", *TTA_MODES):
            problems.append(f"tta {self.stated_tta!r} ({', '.join(TTA_MODES)})")
        if problems:
            raise TypeError(f"weights {self.name!r} have an invalid {'; '.join(problems)}")

    def to_json(self) -> dict[str, Any]:
        """As weights.json holds it: the one of ``file`` and ``url`` it uses, a note if any,
        and what an older declaration stated, as it stated it."""
        data = {"name": self.name, "sha256": self.sha256, "file": self.file, "url": self.url}
        data = {key: value for key, value in data.items() if key not in ("file", "url") or value}
        return data | ({"note": self.note} if self.note else {}) | dict(self.stated)


@dataclass(frozen=True)
class ModelInfo:
    """What zoo knows about a model beyond its signature: also its trained ``weights`` (the first
    is the default), or in ``no_weights`` why it has none."""

    description: str = ""
    default_dataset: str | None = None
    recipe: Recipe = UNDECLARED_RECIPE  # zoo's defaults unless the metadata names a recipe
    reference: dict[str, str] = field(
        default_factory=dict
    )  # published results, e.g. {"cifar10": "73.58 % top-1"}
    output: str = (
        "logits"  # "logits", "log_probs" (trained with NLL) or "regression" (trained with MSE)
    )
    weights: tuple[Weights, ...] = ()
    no_weights: str = ""  # why the model has no trained weights, for `zoo info`


@dataclass(frozen=True)
class DatasetInfo:
    """Shape, labels and statistics of a dataset, known without loading it."""

    description: str = ""
    input_shape: tuple[int, ...] | None = None  # (C, H, W) for images, (features,) for tables
    classes: tuple[str, ...] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    task: str = "classification"  # or "regression"
    targets: tuple[str, ...] | None = None  # names of regression targets

    @property
    def names(self) -> tuple[str, ...]:
        """What a model trained on it outputs, by name: its classes, or its regression targets."""
        return tuple((self.targets if self.task == "regression" else self.classes) or ())

    @property
    def image(self) -> bool:
        return self.input_shape is not None and len(self.input_shape) == 3

    def preprocessing(self) -> Preprocessing:
        """How its raw inputs become a model's input tensor (its shape and statistics)."""
        if self.input_shape is None:
            raise TypeError("a dataset without an input shape has no preprocessing")
        return Preprocessing(tuple(self.input_shape), self.mean, self.std)


def _attach(obj: F, meta: object) -> F:
    setattr(obj, ATTRIBUTE, meta)
    return obj


def model_info(**kwargs: Any) -> Callable[[F], F]:
    """Decorator attaching :class:`ModelInfo` to a model builder. ``recipe`` may be a dict."""
    meta = coerce(ModelInfo, kwargs)
    return lambda fn: _attach(fn, meta)


def dataset_info(**kwargs: Any) -> Callable[[F], F]:
    """Decorator attaching :class:`DatasetInfo` to a dataset builder."""
    meta = coerce(DatasetInfo, kwargs)
    return lambda fn: _attach(fn, meta)


def coerce(cls: type, value: Any) -> Any:
    """Turn a plain dict (as a plugin without zoo writes it) into ``cls``; unknown keys are an error."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise TypeError(f"{ATTRIBUTE} must be a dict or {cls.__name__}, not {type(value).__name__}")
    known = {f.name for f in fields(cls)} | (set(CARD_FACTS) if cls is Weights else set())
    unknown = sorted(set(value) - known)
    if unknown:
        raise TypeError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    data = dict(value)
    if cls is ModelInfo and isinstance(data.get("recipe"), dict):
        data["recipe"] = Recipe(**data["recipe"])
    if cls is ModelInfo and data.get("weights") is not None:
        data["weights"] = declared_weights(data["weights"])
    for key in ("input_shape", "classes", "mean", "std", "targets"):
        if data.get(key) is not None and key in known:
            data[key] = tuple(data[key])
    if cls is Weights:
        missing = [key for key in REQUIRED_WEIGHTS if key not in data]
        if missing:
            raise TypeError(
                f"weights {data.get('name', '?')!r}: "
                + "; ".join(f"{key} is required ({REQUIRED_WEIGHTS[key]})" for key in missing)
            )
        weights = cls(**data)
        weights.check()
        return weights
    return cls(**data)


def declared_weights(items: Any) -> tuple[Weights, ...]:
    """A model's weights declarations (dicts or :class:`Weights`), checked, names unique."""
    if isinstance(items, (dict, str)) or not hasattr(items, "__iter__"):
        raise TypeError("weights must be a list of weights declarations")
    weights = tuple(coerce(Weights, item) for item in items)
    for item in weights:  # zoo.Weights objects too, not only dicts
        item.check()
    names = [w.name for w in weights]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise TypeError(f"weights named {', '.join(repeated)} are declared more than once")
    return weights


def weights_index(package: str, model: str, index: str = "weights/weights.json") -> list[Any]:
    """The weights declarations of ``model`` in a JSON file inside ``package`` (a mapping of
    model names to lists of declarations), for a plugin whose weights are written by a script;
    empty when the file or the model is not there."""
    from importlib import resources

    try:
        data = json.loads(resources.files(package).joinpath(index).read_text())
    except (FileNotFoundError, ModuleNotFoundError):
        return []
    if not isinstance(data, dict):
        raise TypeError(f"{package}/{index} must map model names to lists of weights")
    return list(data.get(model, []))


def read(obj: Any, cls: type) -> Any:
    """The metadata attached to ``obj`` as ``cls``, with the docstring as fallback description."""
    meta = coerce(cls, getattr(obj, ATTRIBUTE, None) or {})
    return meta if meta.description else replace(meta, description=first_paragraph(obj))


def first_paragraph(obj: Any) -> str:
    """The first paragraph of ``obj``'s docstring, on one line."""
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def to_json(meta: Any) -> dict[str, Any]:
    """Metadata as JSON-ready data (a recipe as its fields and note)."""
    data = asdict(meta)
    if isinstance(meta, ModelInfo):
        data["recipe"] = meta.recipe.to_json()
    return data


def declares_recipe(info: ModelInfo) -> bool:
    """Whether the model's metadata names its recipe (else ``zoo train`` uses zoo's defaults)."""
    return info.recipe is not UNDECLARED_RECIPE


def weights_named(info: ModelInfo, name: str) -> Weights | None:
    """The declared weights called ``name`` (``default``: the first), None if there are none."""
    if name == DEFAULT_WEIGHTS:
        return info.weights[0] if info.weights else None
    return next((w for w in info.weights if w.name == name), None)
