"""An export directory, as typed objects: what each exported file is and carries, and the
directory's ``manifest.json`` that lists them with their hashes and verification numbers.

Each file carries :class:`FileMetadata`: the model card, the export's facts (:class:`ExportInfo`)
and its own (:class:`FileFacts`: precision, quantisation, what it takes and returns, accuracy),
plus its parity :class:`Certificate`. ONNX keeps them in ``metadata_props`` as flat string
key/values (:func:`to_props`); TorchScript and ExportedProgram files keep the same key/values as
JSON in an extra file named :data:`EXTRA_FILE`; the manifest keeps them as nested JSON
(:class:`Manifest`). These are the only places they become strings and dicts; no stage reads
them by key. No torch or numpy here: ``zoo predict`` and ``zoo verify`` read them on machines
without PyTorch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo.artifacts.card import ModelCard
from zoo.artifacts.decision import Decision
from zoo.errors import ZooError, first_line
from zoo.files import sha256_file

MANIFEST = "manifest.json"
CHECKS_FILE = "verification.npz"  # the inputs and eager outputs the files were verified on
MANIFEST_VERSION = 3  # 3: the dataset reference, sampling and per-file certificates
EXTRA_FILE = "zoo.json"
CERTIFICATE_KEY = "zoo_certificate"
IR_PROPS_KEY = ("zoo", "props")  # where an OpenVINO IR keeps the key/values, as JSON
# what a file's graph takes
NORMALISED = "normalised"  # float32, (x / 255 − mean) / std for images, (x − mean) / std for rows
UINT8_NCHW = "uint8 NCHW"  # raw pixels 0..255, N×C×H×W; the graph scales and normalises
RAW_FEATURES = "raw features"  # float32 feature rows before (x − mean) / std; the graph normalises
# what a file's graph returns beyond the model's own output (logits, log_probs, regression)
PROBABILITIES = "probabilities"
NOT_QUANTISED = "none"
STATIC = "static: QDQ, int8 weights per channel, uint8 activations calibrated on samples"
STATIC_PER_TENSOR = "static: QDQ, int8 weights per tensor, uint8 activations calibrated on samples"
DYNAMIC = "dynamic: int8 weights per channel, activation ranges computed at run time"
NNCF = "NNCF post-training quantisation: int8 weights and activations calibrated on samples"
FLOAT16 = "float16 weights and activations (onnxconverter-common, float32 input and output)"


@dataclass(frozen=True)
class DatasetRef:
    """A dataset as the registry names it, with its arguments and split: never a machine path,
    so that another machine finds the same data with its own ``--data-dir``."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)
    split: str = "test"

    def text(self) -> str:
        args = "".join(f" --dataset-arg {k}={v}" for k, v in self.args.items())
        return f"--dataset {self.name}{args}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "args": dict(self.args), "split": self.split}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> DatasetRef | None:
        if not data:
            return None
        return cls(str(data["name"]), dict(data.get("args") or {}), str(data.get("split", "test")))


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

    def to_json(self) -> dict[str, Any]:
        return {
            "top1": self.top1,
            "reference_top1": self.reference_top1,
            "drop_points": self.drop_points,
            "samples": self.samples,
            "origin": self.origin,
            "checked": self.top1 is not None,
        }


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
    tta: str = "none"  # test-time augmentation the graph does (zoo.tta)

    def to_json(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "quantisation": self.quantisation,
            "input": self.input,
            "output": self.output,
            "tta": self.tta,
            "calibration": None if self.calibration is None else asdict(self.calibration),
            "accuracy": None if self.accuracy is None else self.accuracy.to_json(),
            "max_accuracy_drop": self.max_accuracy_drop,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> FileFacts:
        """A manifest entry's facts (float32, normalised for manifests from before them)."""
        if not data:
            return cls()
        calibration, accuracy = data.get("calibration"), data.get("accuracy")
        return cls(
            precision=data["precision"],
            quantisation=data["quantisation"],
            input=data["input"],
            output=data["output"],
            calibration=None if calibration is None else Calibration(**calibration),
            accuracy=None
            if accuracy is None
            else Accuracy(
                accuracy["top1"],
                accuracy["reference_top1"],
                accuracy["samples"],
                accuracy["origin"],
            ),
            max_accuracy_drop=data.get("max_accuracy_drop"),
            tta=data.get("tta", "none"),
        )

    def to_props(self) -> dict[str, str]:
        """Flat string key/values (``takes`` and ``returns``: the card has an ``output``)."""
        props = {
            "precision": self.precision,
            "quantisation": self.quantisation,
            "takes": self.input,
            "returns": self.output,
            "tta": self.tta,
        }
        if self.calibration is not None:
            props["calibration"] = self.calibration.origin
            props["calibration_count"] = str(self.calibration.count)
            props["calibration_real"] = json.dumps(self.calibration.real)
        if self.accuracy is not None:
            props["accuracy_top1"] = json.dumps(self.accuracy.top1)
            props["accuracy_reference_top1"] = json.dumps(self.accuracy.reference_top1)
            props["accuracy_samples"] = str(self.accuracy.samples)
            props["accuracy_origin"] = self.accuracy.origin
        if self.max_accuracy_drop is not None:
            props["max_accuracy_drop"] = json.dumps(self.max_accuracy_drop)
        return props

    @classmethod
    def from_props(cls, props: Mapping[str, str]) -> FileFacts:
        """The inverse of :meth:`to_props`; files from before them read as float32, normalised."""
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
        return cls(
            precision=props.get("precision", "fp32"),
            quantisation=props.get("quantisation", NOT_QUANTISED),
            input=props.get("takes", NORMALISED),
            output=props.get("returns") or props.get("output", "logits"),
            calibration=calibration,
            accuracy=accuracy,
            max_accuracy_drop=json.loads(drop) if drop is not None else None,
            tta=props.get("tta", "none"),
        )


@dataclass(frozen=True)
class ExportInfo:
    """How the files of one export were made: batch dimension, opset, and the weights file they
    came from (a name inside the export directory, never a path of the machine that made it)."""

    batch: str = "dynamic"  # or a fixed batch size, as text
    opset: int | None = None
    weights_file: str = ""  # the safetensors copy inside the export directory, if any

    @property
    def fixed_batch(self) -> int | None:
        return None if self.batch == "dynamic" else int(self.batch)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExportInfo:
        opset = data.get("opset")
        return cls(
            batch=str(data.get("batch") or "dynamic"),
            opset=int(opset) if opset not in (None, "", "null") else None,
            weights_file=str(data.get("weights_file") or ""),
        )


@dataclass(frozen=True)
class Parity:
    """How closely a backend's outputs matched the reference's (eager), over ``count`` inputs,
    and the rule they were judged by."""

    backend: str
    count: int
    max_abs: float
    max_rel: float
    tolerance_used: float | None  # the worst |a - b| over the bound; <= 1 passes
    top1_agreement: float | None  # fraction of identical argmax; None for regression
    passed: bool
    tolerance: str  # the rule, in words

    def text(self) -> str:
        top1 = "" if self.top1_agreement is None else f", top-1 agreement {self.top1_agreement:.2%}"
        numbers = f"max |a-b| {self.max_abs:.3g}, max rel {self.max_rel:.3g}"
        return f"{numbers}{top1} over {self.count} inputs"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Parity:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


@dataclass(frozen=True)
class Certificate:
    """What a file's verification proved, carried inside the file: which weights it was checked
    against, on which inputs (their source, seed and count, the sha256 of the stored inputs and
    reference outputs), how closely it matched, by which rule, on which runtime and machine."""

    weights_sha256: str
    inputs: str  # where the inputs came from, e.g. "16 real test samples of digits"
    dataset: DatasetRef | None  # None: random inputs
    sampling: str  # "stratified by class" or "seeded random"
    seed: int
    count: int
    checks_sha256: str  # of the export directory's verification file (inputs and references)
    parity: Parity
    runtime: str  # e.g. "onnxruntime 1.22.0, CPUExecutionProvider, basic graph optimisation"
    versions: Mapping[str, str]
    machine: Mapping[str, Any]  # CPU model and the instruction-set features numbers depend on

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["dataset"] = None if self.dataset is None else self.dataset.to_json()
        data["parity"] = self.parity.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Certificate:
        values = dict(data)
        values["dataset"] = DatasetRef.from_json(data.get("dataset"))
        values["parity"] = Parity.from_json(data["parity"])
        return cls(**values)


@dataclass(frozen=True)
class FileMetadata:
    """Everything one exported file says about itself."""

    card: ModelCard
    info: ExportInfo
    facts: FileFacts
    certificate: Certificate | None = None


def to_props(
    card: ModelCard,
    info: ExportInfo,
    facts: FileFacts,
    certificate: Certificate | None = None,
) -> dict[str, str]:
    """The string key/values a file carries."""
    export = {key: "" if value is None else str(value) for key, value in info.to_json().items()}
    props = card.to_props() | export | facts.to_props()
    if certificate is not None:
        props[CERTIFICATE_KEY] = json.dumps(certificate.to_json())
    return props


def from_props(props: Mapping[str, str], where: str) -> FileMetadata:
    """The inverse of :func:`to_props`."""
    if "input_shape" not in props:
        raise ZooError(
            f"{where} carries no zoo metadata (input shape, classes): export it with 'zoo export'"
        )
    certificate = None
    if CERTIFICATE_KEY in props:
        try:
            certificate = Certificate.from_json(json.loads(props[CERTIFICATE_KEY]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ZooError(f"{where} has a damaged parity certificate: {first_line(exc)}") from None
    card_props = {key: value for key, value in props.items() if key != CERTIFICATE_KEY}
    return FileMetadata(
        ModelCard.from_props(card_props, where),
        ExportInfo.from_json(props),
        FileFacts.from_props(props),
        certificate,
    )


@dataclass(frozen=True)
class Companion:
    """A file that goes with an exported file and is checked with it (an OpenVINO IR's .bin)."""

    path: str  # a name inside the export directory
    sha256: str
    bytes: int


@dataclass(frozen=True)
class ManifestFile:
    """One file of an export directory: its format and name, hash and size, how long it took,
    its verification against eager and its facts."""

    format: str
    path: str  # a name inside the export directory
    sha256: str
    bytes: int
    export_seconds: float
    verification: Parity
    facts: FileFacts
    certificate: Certificate | None = None
    companions: tuple[Companion, ...] = ()

    @property
    def precision(self) -> str:
        return self.facts.precision

    @property
    def total_bytes(self) -> int:
        """The file and its companions: what a deployment copies."""
        return self.bytes + sum(c.bytes for c in self.companions)

    @property
    def label(self) -> str:
        """``onnx``, ``onnx int8``."""
        return self.format if self.precision == "fp32" else f"{self.format} {self.precision}"

    def to_json(self) -> dict[str, Any]:
        data = {
            "format": self.format,
            "path": self.path,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "export_seconds": self.export_seconds,
            "verification": self.verification.to_json(),
            "facts": self.facts.to_json(),
        }
        if self.certificate is not None:
            data["certificate"] = self.certificate.to_json()
        if self.companions:
            data["companions"] = [asdict(c) for c in self.companions]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ManifestFile:
        certificate = data.get("certificate")
        companions = tuple(
            Companion(str(c["path"]), str(c["sha256"]), int(c["bytes"]))
            for c in data.get("companions") or ()
        )
        return cls(
            format=str(data["format"]),
            path=str(data["path"]),
            sha256=str(data["sha256"]),
            bytes=int(data["bytes"]),
            export_seconds=float(data.get("export_seconds", 0.0)),
            verification=Parity.from_json(data["verification"]),
            facts=FileFacts.from_json(data.get("facts")),
            certificate=None if certificate is None else Certificate.from_json(certificate),
            companions=companions,
        )


@dataclass(frozen=True)
class Manifest:
    """An export directory's manifest.json: the card, the export's facts, what verification ran
    on (``inputs``, the ``dataset`` it came from), every file, and notes for the user."""

    card: ModelCard
    export: ExportInfo
    inputs: str
    files: tuple[ManifestFile, ...]
    notes: tuple[str, ...] = ()
    dataset: DatasetRef | None = None
    rules: Mapping[str, Any] = field(default_factory=dict)  # the tolerances, in numbers and words
    created: str = ""
    version: int = MANIFEST_VERSION
    decision: Decision | None = None  # zoo optimize's record of what it chose and why

    def file(self, fmt: str, precision: str = "fp32") -> ManifestFile | None:
        """The file of one format and precision (``manifest.file("onnx", "int8")``), or None."""
        return next((f for f in self.files if (f.format, f.precision) == (fmt, precision)), None)

    def to_json(self) -> dict[str, Any]:
        data = {
            "zoo_export": self.version,
            "created": self.created,
            "card": self.card.to_json(),
            "export": self.export.to_json(),
            "dataset": None if self.dataset is None else self.dataset.to_json(),
            "verification": {"inputs": self.inputs, **self.rules},
            "files": [f.to_json() for f in self.files],
            "notes": list(self.notes),
        }
        if self.decision is not None:
            data["decision"] = self.decision.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> Manifest:
        try:
            verification = dict(data["verification"])
            return cls(
                card=ModelCard.from_json(data["card"], where),
                export=ExportInfo.from_json(data["export"]),
                inputs=str(verification.pop("inputs")),
                files=tuple(ManifestFile.from_json(entry) for entry in data["files"]),
                notes=tuple(data.get("notes") or ()),
                dataset=DatasetRef.from_json(data.get("dataset")),
                rules=verification,
                created=str(data.get("created", "")),
                version=int(data.get("zoo_export", 1)),
                decision=Decision.from_json(data.get("decision")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ZooError(
                f"{where} is damaged or from another zoo version: {first_line(exc)}"
            ) from None

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        """The manifest of an export directory; one line when it is missing or damaged."""
        path = directory / MANIFEST
        if not path.is_file():
            raise ZooError(f"'{directory}' is not a 'zoo export' directory (no {MANIFEST})")
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ZooError(f"{path} is damaged: {first_line(exc)}") from None
        if not isinstance(data, dict):
            raise ZooError(f"{path} is damaged: not a JSON object")
        return cls.from_json(data, str(path))

    def checked_path(self, directory: Path, entry: ManifestFile) -> Path:
        """A file of the export (its companions checked too), refused when it is missing or
        differs from the manifest."""
        for name, digest in ((entry.path, entry.sha256), *entry_companions(entry)):
            path = directory / name
            if not path.is_file():
                raise ZooError(f"{path} is missing from its export: export again")
            if sha256_file(path) != digest:
                raise ZooError(f"{path} differs from its manifest (sha256): export again")
        return directory / entry.path


def entry_companions(entry: ManifestFile) -> list[tuple[str, str]]:
    return [(c.path, c.sha256) for c in entry.companions]


def is_export_dir(path: Path) -> bool:
    return path.is_dir() and (path / MANIFEST).is_file()


def checked_file(path: Path, fmt: str = "onnx", precision: str = "fp32") -> Path:
    """The exported file to run, checked against its manifest's sha256 first: what runs is what
    was verified. An export directory means its file of ``fmt`` and ``precision``; a file
    inside an export directory must be listed in its manifest with the same sha256. A file with
    no manifest beside it (copied out of its directory) has nothing to be checked against and
    is returned as it is. A missing, unlisted or changed file is one line (:class:`ZooError`).
    The one check every command that runs an exported file makes (predict, serve, bench,
    verify), torch-free."""
    if path.is_dir():
        manifest = Manifest.read(path)
        entry = manifest.file(fmt, precision)
        if entry is None:
            raise ZooError(f"'{path}' holds no {precision} {fmt} file: export it with --{fmt}")
        return manifest.checked_path(path, entry)
    if not path.is_file():
        raise ZooError(f"no file '{path}'")
    if not is_export_dir(path.parent):
        return path
    manifest = Manifest.read(path.parent)
    return manifest.checked_path(path.parent, listed(path, manifest))


def listed(path: Path, manifest: Manifest) -> ManifestFile:
    """The manifest's entry for ``path``, a file of its export directory: one it does not list
    was never verified."""
    entry = next((f for f in manifest.files if f.path == path.name), None)
    if entry is None:
        raise ZooError(
            f"{path} is not listed in {path.parent / MANIFEST}: it is not the file that was "
            "verified (export again, or copy it out of the export directory)"
        )
    return entry
