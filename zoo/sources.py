"""Everything a user can name, as one typed value: the one resolver, below the stages.

A command's RUN|CHECKPOINT|EXPORT|MODEL argument (with ``--weights``), the Python API's
``weights=`` and ``zoo predict``'s quick path all become a :data:`Source`, one of:

===================  ========================================================================
``DeclaredWeights``  ``MODEL --weights NAME`` (``default``: the first weights it declares)
``WeightsFile``      a ``.safetensors`` file: a run's checkpoint, or ``MODEL --weights FILE``
``RunDirectory``     a training run: the checkpoint it keeps (best, else last)
``ExportDirectory``  a ``zoo export`` directory: its manifest, its files, its weights copy
``ExportFile``       one file of an export directory, as its manifest lists it
``OnnxFile``         an ONNX file ``zoo export`` wrote
``HubRelease``       ``hf://OWNER/REPO[@REVISION]``: a release ``zoo publish`` put on the Hub
``FreshModel``       a registered model with seeded fresh weights (export and bench)
===================  ========================================================================

Each knows its card (what the weights are and how to feed them), its test-time augmentation (the
card's, so that one set of weights gives one figure however it is named), the dataset it was
trained or verified on, and how to give an eager model (:meth:`Named.model`, torch imported
then) or a file to run (:meth:`Named.onnx_file`). Resolving reads no tensors and imports neither
torch nor a plugin's module (``zoo predict``'s cached path resolves through here); what a variant
needs is fetched and checked when first asked for. Every error a name can earn is written here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from zoo import flags
from zoo.artifacts.card import TTA_MODES, CardFacts, ModelCard, Preprocessing
from zoo.artifacts.checkpoint import FOLDER, checkpoint_file, read_weights
from zoo.artifacts.config import CONFIG_JSON, load_run_config
from zoo.artifacts.manifest import (
    CHECKS_FILE,
    MANIFEST,
    DatasetRef,
    Manifest,
    ManifestFile,
    is_export_dir,
    listed,
)
from zoo.errors import ArgumentError, ZooError
from zoo.factory import build_model, class_names, known_dataset_info, seeded_model, torch_version
from zoo.files import sha256_file
from zoo.flags import option
from zoo.machine import zoo_version
from zoo.meta import DEFAULT_WEIGHTS, DatasetInfo, ModelInfo, Weights
from zoo.registry import get_model_info
from zoo.weights import releases
from zoo.weights.declared import Located, is_file_spec, weights_for
from zoo.weights.home import SUFFIX, predict_folder

FILE_SUFFIXES = (SUFFIX, ".onnx", ".pt2", ".pt", ".json")  # what names a file, not a model
NOT_EXPORTED = (MANIFEST, CHECKS_FILE)  # what an export directory holds beside its files


class Named(CardFacts):
    """What every variant answers (each overrides what differs)."""

    kind = ""  # "a run directory", for messages
    noun = ""  # "a run directory", for a path that is missing or of another kind

    @property
    def label(self) -> str:
        """What it is, for messages: ``cifar10-cnn weights 'cifar10'``, a path, a Hub address."""
        raise NotImplementedError

    @property
    def card(self) -> ModelCard:
        raise NotImplementedError

    @property
    def weights_file(self) -> Path | None:
        """The safetensors file of its weights (fetched and checked), None for none."""
        return None

    @property
    def recorded_tta(self) -> str:
        """What a file written before cards recorded their TTA says instead ("": nothing)."""
        return ""

    @property
    def tta(self) -> str:
        """The test-time augmentation the weights are measured with: the card's."""
        return self.card.evaluation_tta or self.recorded_tta or "none"

    @property
    def dataset(self) -> DatasetRef | None:
        """The dataset the weights were trained on (its test split), as the card names it."""
        card = self.card
        return DatasetRef(card.dataset, dict(card.dataset_args), "test") if card.dataset else None

    @property
    def data_dir(self) -> str | None:
        """Where the weights' training run found its data (its config.json), if known."""
        return None

    @property
    def run(self) -> Path | None:
        """The training run the weights come from, when they are still in its directory."""
        return None

    @property
    def results_folder(self) -> Path | None:
        """Where ``zoo eval`` writes by default, when not beside the file: weights a model
        declares may be read-only, inside a package, so theirs go to ``eval/MODEL-NAME``."""
        return None

    @property
    def origin(self) -> str:
        """Where the weights come from, for people."""
        return f"weights {self.weights_file}"

    @property
    def manifest(self) -> Manifest | None:
        """An export directory's manifest (None for anything else)."""
        return None

    @property
    def export_dir(self) -> Path | None:
        return None

    def model(self) -> Any:
        """The eager model with these weights, in eval mode (built once per source)."""
        return self._model

    @cached_property
    def _model(self) -> Any:
        path = self.weights_file
        if path is None:
            raise ZooError(f"{self.label} holds no PyTorch weights: name the run or weights")
        return load_model(self.card, path, self.label)

    def onnx_file(self) -> Path | None:
        """A float32 ONNX file of these weights to run, checked; None when there is none yet
        (``zoo predict`` then exports one into :attr:`predict_folder`)."""
        return None

    @property
    def predict_folder(self) -> Path:
        """Where ``zoo predict`` keeps its export of these weights."""
        raise ZooError(f"zoo predict cannot export {self.label}")


def load_model(card: ModelCard, path: Path, where: str) -> Any:
    """The card's model with the weights in ``path``, in eval mode (the one builder's way)."""
    tensors = read_weights(path)
    return build_model(card.model, card=card, tensors=tensors, where=where).eval()


def run_of(checkpoint: Path) -> Path | None:
    """The run directory a checkpoint file belongs to (``RUN/checkpoints/NAME.safetensors``)."""
    folder = checkpoint.parent.parent
    is_run = checkpoint.parent.name == FOLDER and (folder / CONFIG_JSON).is_file()
    return folder if is_run else None


def run_tta(run: Path | None) -> str:
    """The ``--tta`` a run's config.json names: the figure training printed at its end."""
    if run is None:
        return ""
    try:
        return load_run_config(run).tta
    except ZooError:
        return ""


@dataclass(frozen=True)
class WeightsFile(Named):
    """A ``.safetensors`` file zoo wrote (its card inside), named as a file; ``model``: the model
    it was named with (``MODEL --weights FILE``), which its card must name."""

    path: Path
    model_name: str = ""
    kind = "a weights file"
    noun = "a checkpoint"

    @property
    def label(self) -> str:
        return self.checked.label  # the file's name: cards record it, never a path

    @cached_property
    def checked(self) -> Located:
        return weights_for(self.model_name or None, str(self.path))

    @property
    def weights_file(self) -> Path:
        return self.checked.path

    @cached_property
    def card(self) -> ModelCard:
        return self.checked.card.with_(weights_sha256=sha256_file(self.checked.path))

    @property
    def run(self) -> Path | None:
        return run_of(self.path)

    @property
    def recorded_tta(self) -> str:
        return run_tta(self.run)

    @property
    def data_dir(self) -> str | None:
        return run_data_dir(self.run)

    @property
    def predict_folder(self) -> Path:
        return predict_folder(self.model_name or self.card.model, self.weights_file)


def run_data_dir(run: Path | None) -> str | None:
    if run is None:
        return None
    try:
        return load_run_config(run).data_dir
    except ZooError:
        return None


@dataclass(frozen=True)
class RunDirectory(WeightsFile):
    """A training run: the weights it keeps (best on held-out items, else the last epoch's)."""

    kind = "a run directory"
    noun = "a run directory"

    @property
    def label(self) -> str:
        return str(self.path)

    @cached_property
    def checked(self) -> Located:
        return weights_for(None, str(checkpoint_file(self.path)))

    @property
    def run(self) -> Path | None:
        return self.path


@dataclass(frozen=True)
class DeclaredWeights(Named):
    """Weights a registered model declares: ``MODEL --weights NAME`` (or ``default``)."""

    model_name: str
    weights: str = DEFAULT_WEIGHTS
    kind = "declared weights"

    @cached_property
    def checked(self) -> Located:
        """The declared file, fetched once and checked against its sha256 (the plugin's module
        is imported here, not when resolving)."""
        return releases.trained_weights(self.model_name, self.weights)

    @property
    def declaration(self) -> Weights:
        declared = self.checked.declared
        assert declared is not None
        return declared

    @property
    def label(self) -> str:
        return self.checked.label

    @property
    def weights_file(self) -> Path:
        return self.checked.path

    @cached_property
    def card(self) -> ModelCard:
        return self.checked.card.with_(weights_sha256=self.declaration.sha256)

    @property
    def recorded_tta(self) -> str:
        return self.declaration.stated_tta

    @property
    def results_folder(self) -> Path | None:
        return Path("eval") / f"{self.checked.model}-{self.declaration.name}"

    @property
    def origin(self) -> str:
        return self.label

    @property
    def predict_folder(self) -> Path:
        return predict_folder(self.model_name, self.weights)


@dataclass(frozen=True)
class HubRelease(Named):
    """``hf://OWNER/REPO[@REVISION]``: a release on the Hub, downloaded once. Its card and ONNX
    file need no torch and no plugin; its weights need the model's plugin installed."""

    spec: str
    kind = "a Hub release"

    @property
    def label(self) -> str:
        return self.spec

    @cached_property
    def release(self) -> releases.Release:
        return releases.release(self.spec)

    @cached_property
    def checked(self) -> Located:
        return releases.trained_weights(self.spec, None)

    @property
    def card(self) -> ModelCard:
        return self.release.manifest.card

    @property
    def recorded_tta(self) -> str:
        export_tta = next((f.facts.tta for f in self.release.manifest.files), "")
        return export_tta if export_tta != "none" else self.release.weights.stated_tta

    @property
    def weights_file(self) -> Path:
        return self.checked.path

    @property
    def results_folder(self) -> Path | None:
        return Path("eval") / f"{self.release.model}-{self.release.weights.name}"

    @property
    def origin(self) -> str:
        return self.spec

    def onnx_file(self) -> Path | None:
        return self.release.onnx()

    def cached_onnx(self) -> Path | None:
        """Its ONNX file if it is downloaded already (no network)."""
        return releases.cached_onnx(self.spec)


@dataclass(frozen=True)
class ExportDirectory(Named):
    """A ``zoo export`` directory: the files its manifest lists, the eager model behind them
    (its weights copy, hash checked, or the seeded fresh weights it was exported from)."""

    path: Path
    kind = "an export directory"
    noun = "an export"

    @property
    def label(self) -> str:
        return str(self.path)

    @cached_property
    def manifest(self) -> Manifest:  # type: ignore[override]
        return Manifest.read(self.path)

    @property
    def export_dir(self) -> Path:
        return self.path

    @property
    def card(self) -> ModelCard:
        return self.manifest.card

    @property
    def tta(self) -> str:
        """The views its files' graphs average (one export, one TTA)."""
        return next((entry.facts.tta for entry in self.manifest.files), "none")

    @property
    def dataset(self) -> DatasetRef | None:
        """The dataset it was verified on, else the one its weights were trained on."""
        verified = self.manifest.dataset
        if verified is not None:
            return DatasetRef(verified.name, dict(verified.args), "test")
        return super().dataset

    @cached_property
    def weights_file(self) -> Path | None:
        name = self.manifest.export.weights_file
        if not name:
            return None
        weights = self.path / name
        if not weights.is_file():
            raise ZooError(f"the export's weights file {weights} is missing: export again")
        if sha256_file(weights) != self.card.weights_sha256:
            raise ZooError(f"{weights} differs from the one exported (sha256): export again")
        return weights

    @property
    def origin(self) -> str:
        weights = f"weights {self.weights_file}" if self.weights_file else "fresh weights"
        return f"export {self.path}, {weights}"

    @cached_property
    def _model(self) -> Any:
        if self.weights_file is not None:
            return load_model(self.card, self.weights_file, self.label)
        card = self.card
        args = dict(card.model_args)
        return seeded_model(card.model, card.input_shape, len(card.classes), args, card.seed or 0)

    def onnx_file(self) -> Path | None:
        entry = self.manifest.file("onnx", "fp32")
        if entry is None:
            raise ZooError(f"'{self.path}' holds no float32 ONNX file: export it with --onnx")
        return self.manifest.checked_path(self.path, entry)


@dataclass(frozen=True)
class OnnxFile(Named):
    """An ONNX file ``zoo export`` wrote (its card in its metadata): run as it is."""

    path: Path
    kind = "an ONNX file"
    noun = "an ONNX file"

    @property
    def label(self) -> str:
        return str(self.path)

    @cached_property
    def card(self) -> ModelCard:
        from zoo.artifacts.manifest import from_props

        try:
            import onnx
        except ImportError:
            raise ZooError(f"reading {self.path}'s card needs onnx: {EXPORT_EXTRA}") from None
        model = onnx.load(str(self.path), load_external_data=False)
        props = {p.key: p.value for p in model.metadata_props}
        return from_props(props, f"'{self.path}'").card

    @property
    def tta(self) -> str:
        return "none"  # what its graph does is its own: nothing is added around it

    def onnx_file(self) -> Path | None:
        return self.path

    def model(self) -> Any:
        raise ZooError(
            f"{self.path} is an ONNX file: name the run, checkpoint or export directory it came "
            "from for the PyTorch model"
        )


@dataclass(frozen=True)
class ExportFile(Named):
    """One file of a ``zoo export`` directory (ONNX, OpenVINO IR, ...), as its manifest lists it:
    what runs or is re-checked is that file, unchanged since it was verified."""

    path: Path
    kind = "a file of an export"
    noun = "an exported file"

    @property
    def label(self) -> str:
        return str(self.path)

    @cached_property
    def directory(self) -> ExportDirectory:
        """The export it belongs to (its dataset, its eager model, built once)."""
        return ExportDirectory(self.path.parent)

    @cached_property
    def manifest(self) -> Manifest:  # type: ignore[override]
        return Manifest.read(self.path.parent)

    @property
    def export_dir(self) -> Path:
        return self.path.parent

    @cached_property
    def entry(self) -> ManifestFile:
        """Its line in the manifest: a file the manifest does not list was never verified."""
        return listed(self.path, self.manifest)

    @property
    def card(self) -> ModelCard:
        return self.manifest.card

    @property
    def tta(self) -> str:
        return self.entry.facts.tta

    @property
    def dataset(self) -> DatasetRef | None:
        return self.directory.dataset

    def checked_path(self) -> Path:
        """The file, refused when it (or a companion) differs from the manifest (sha256)."""
        return self.manifest.checked_path(self.path.parent, self.entry)

    def onnx_file(self) -> Path:
        if self.entry.format != "onnx":
            raise ZooError(
                f"{self.path} is not an ONNX file (its manifest lists it as {self.entry.label}): "
                "name its export directory or one of its ONNX files"
            )
        return self.checked_path()

    def model(self) -> Any:
        return self.directory.model()


EXPORT_EXTRA = "pip install 'torch-zoo[export]'"


@dataclass(frozen=True)
class FreshModel(Named):
    """A registered model with weights drawn from ``seed`` (export and bench a model by name
    without ``--weights``): its input and outputs from ``dataset`` (else its default dataset)
    unless given."""

    model_name: str
    dataset_name: str | None = None
    dataset_args: Mapping[str, Any] = field(default_factory=dict)
    data_root: str | None = None
    input_shape_given: tuple[int, ...] | None = None
    num_classes: int | None = None
    model_args: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    kind = "a model"

    @property
    def label(self) -> str:
        return f"model '{self.model_name}'"

    @property
    def origin(self) -> str:
        return "fresh weights"

    @property
    def tta(self) -> str:
        return "none"

    @property
    def card(self) -> ModelCard:
        return self._built[1]

    @cached_property
    def _model(self) -> Any:
        return self._built[0]

    @cached_property
    def _built(self) -> tuple[Any, ModelCard]:
        """The model for its input shape and outputs (from its dataset), and the card of it."""
        name = self.model_name
        info = get_model_info(name)
        data = self.data_info(info)
        shape = self.input_shape_given or data.input_shape
        if not shape:
            raise ArgumentError(
                f"cannot tell the input shape of model '{name}': pass --input-shape or --dataset"
            )
        shape = tuple(shape)
        names = data.names or None
        classes = self.num_classes or (len(names) if names else None)
        model = seeded_model(name, shape, classes, dict(self.model_args), self.seed)
        mean, std = info.recipe.mean or data.mean, info.recipe.std or data.std
        mean, std = (tuple(v) if v else None for v in (mean, std))
        if mean and len(shape) == 3 and len(mean) not in (1, shape[0]):
            mean = std = None  # the dataset's per-channel values do not fit the shape's channels
        card = ModelCard(
            model=name,
            preprocessing=Preprocessing(shape, mean, std),
            classes=class_names(model, name, shape, names),
            task=data.task,
            output="regression" if data.task == "regression" else info.output,
            model_args=dict(self.model_args),
            dataset=self.dataset_name or info.default_dataset or "",
            dataset_args=dict(self.dataset_args if self.dataset_name else {}),
            seed=self.seed,
            zoo_version=zoo_version(),
            torch_version=torch_version(),
        )
        return model, card

    def data_info(self, info: ModelInfo) -> DatasetInfo:
        """The named dataset's facts, else the model's default dataset's, else none."""
        dataset = self.dataset_name or info.default_dataset
        if not dataset:
            return DatasetInfo()
        args = self.dataset_args if self.dataset_name else {}
        return known_dataset_info(dataset, self.data_root, **args)


Source = (
    DeclaredWeights
    | WeightsFile
    | RunDirectory
    | ExportDirectory
    | ExportFile
    | OnnxFile
    | HubRelease
    | FreshModel
)
KINDS = (
    RunDirectory,
    WeightsFile,
    ExportDirectory,
    ExportFile,
    OnnxFile,
    DeclaredWeights,
    HubRelease,
    FreshModel,
)
WITH_WEIGHTS = (RunDirectory, WeightsFile, DeclaredWeights, HubRelease)  # what eval measures
EXPORTS = (RunDirectory, WeightsFile, ExportDirectory, DeclaredWeights, HubRelease, FreshModel)


def names_model(spec: str) -> bool:
    """Whether a command's argument can only be a model name (not a path or a Hub address)."""
    return not Path(spec).exists() and "/" not in spec and not spec.endswith(FILE_SUFFIXES)


def resolve(
    spec: str | None,
    weights: str | None = None,
    *,
    fresh: FreshModel | None = None,
    accept: tuple[type, ...] = (),
    command: str = "",
) -> Source:
    """What ``spec`` (and ``--weights``) name. A model name alone means its default weights,
    or with ``fresh`` (its options) fresh weights; ``accept`` limits the variants a command
    takes (``command`` names it in the error)."""
    accept = accept or KINDS
    source = named(spec, weights, fresh, accept)
    if not isinstance(source, accept):
        kinds = or_list([kind.kind for kind in accept])
        raise ArgumentError(f"{command or 'this command'} takes {kinds}, not {source.kind}: {spec}")
    return source


def or_list(items: list[str]) -> str:
    """``a, b or c``."""
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def named(
    spec: str | None, weights: str | None, fresh: FreshModel | None, accept: tuple[type, ...]
) -> Source:
    """The variant ``spec`` names, before ``accept`` is applied. ``accept`` only words what is
    missing (``no such run directory or checkpoint``) and, where it takes no model, says a bare
    word meant a path."""
    if spec is not None and releases.is_hub_spec(spec):
        releases.one_set(spec, weights)
        releases.parse(spec)  # a malformed address: one line, now
        return HubRelease(spec)
    if weights is not None:
        return with_weights(spec, weights)
    if not spec:
        raise ArgumentError("name a run directory, a checkpoint, an export or a model")
    path = Path(spec).expanduser()
    if is_export_dir(path):
        return ExportDirectory(path)
    if path.is_dir():
        return RunDirectory(path)
    exported = path.suffix != SUFFIX and path.name not in NOT_EXPORTED  # not its weights copy
    if path.is_file() and exported and is_export_dir(path.parent):
        return ExportFile(path)
    if path.is_file() and path.suffix in (SUFFIX, ".onnx"):
        return WeightsFile(path) if path.suffix == SUFFIX else OnnxFile(path)
    if path.exists():
        raise ArgumentError(f"'{spec}' is not {or_list([k.noun for k in accept if k.noun])}")
    if not names_model(spec):
        if path.suffix in (".onnx", SUFFIX):  # the name says what it was meant to be
            raise ArgumentError(
                f"no {'ONNX' if path.suffix == '.onnx' else 'weights'} file '{spec}'"
            )
        raise ArgumentError(f"no such {nouns(accept)}: '{spec}'")
    if fresh is not None:
        return dataclasses.replace(fresh, model_name=spec)
    if DeclaredWeights not in accept:  # a command that takes no model: the word meant a path
        raise ArgumentError(f"no such {nouns(accept)}: '{spec}'")
    return DeclaredWeights(spec, DEFAULT_WEIGHTS)


def nouns(accept: tuple[type, ...]) -> str:
    """``run directory, checkpoint or export``: what a command's paths may be."""
    return or_list([kind.noun.partition(" ")[2] for kind in accept if kind.noun])


def with_weights(spec: str | None, weights: str) -> Source:
    """``MODEL --weights NAME|default|FILE`` (a file may also come alone)."""
    if spec is not None and not names_model(spec):
        raise ArgumentError(
            "--weights goes with a model name, not a run, checkpoint, export or ONNX file"
        )
    if is_file_spec(weights):
        return WeightsFile(Path(weights).expanduser(), spec or "")
    if spec is None:
        weights_for(None, weights)  # raises: declared weights need their model named
    return DeclaredWeights(str(spec), weights)


@dataclass(frozen=True)
class SourceRequest:
    """What ``zoo export`` and ``zoo bench`` work on, as the user named it (options declared
    once, here, parsed and typed): a run, a checkpoint, an export, a model (fresh weights, or
    ``--weights``), a Hub release."""

    spec: str | None = None  # the command's argument; None: the newest run in ``runs``
    weights: str | None = option(None, flags.WEIGHTS)
    runs: str | None = option(None, flags.RUNS)
    dataset: str | None = option(None, flags.DATASET)
    dataset_args: dict[str, str] = option(
        {}, flags.DATASET_ARG, parse=flags.assignments("--dataset-arg")
    )
    data_dir: str | None = option(None, flags.DATA_DIR, parse=flags.existing_folder)
    input_shape: tuple[int, ...] | None = option(None, flags.INPUT_SHAPE, parse=flags.parse_shape)
    num_classes: int | None = option(None, flags.NUM_CLASSES)
    model_args: dict[str, str] = option({}, flags.MODEL_ARG, parse=flags.assignments("--model-arg"))
    seed: int = option(
        0,
        flags.SEED.with_help(
            "Seed of a fresh model's weights and of the samples checks run on (default: 0)."
        ),
    )

    def resolve(self, accept: tuple[type, ...] = (), command: str = "") -> Source:
        """What the request names (a model alone: fresh weights, for its input and outputs)."""
        fresh = FreshModel(
            "", self.dataset, self.dataset_args, self.data_dir, self.input_shape,
            self.num_classes, self.model_args, self.seed,
        )  # fmt: skip
        return resolve(self.spec, self.weights, fresh=fresh, accept=accept, command=command)

    def dataset_for(self, source: Source, split: str = "test") -> DatasetRef | None:
        """The dataset checks run on: the one named, else the one the source was verified or
        trained on (see :attr:`Named.dataset`)."""
        if self.dataset:
            return DatasetRef(self.dataset, dict(self.dataset_args), split)
        found = source.dataset
        return None if found is None else dataclasses.replace(found, split=split)


def chosen_tta(source: Source, given: str | None) -> TTAChoice:
    """The TTA a command uses: ``--tta`` when given, else what the weights record."""
    recorded = source.tta
    return TTAChoice(given or recorded, recorded)


@dataclass(frozen=True)
class TTAChoice:
    """The test-time augmentation a command uses, and what the weights record (what a user's
    ``--tta`` overrides: every command then says which it used)."""

    mode: str
    recorded: str

    def __post_init__(self) -> None:
        if self.mode not in TTA_MODES:
            raise ArgumentError(f"--tta must be one of {', '.join(TTA_MODES)}, not '{self.mode}'")

    @property
    def overridden(self) -> bool:
        return self.mode != self.recorded

    def note(self) -> str:
        """``test-time augmentation none (--tta), not flip-translate as the weights record``;
        "" when the recorded one is used."""
        if not self.overridden:
            return ""
        return (
            f"test-time augmentation {self.mode} (--tta), not {self.recorded} as the weights' "
            "card records"
        )
