"""What every exported file carries: the model card, the facts of the export, and the file's own
facts (precision, what it takes and returns, accuracy). No torch here: `zoo predict` reads it.

ONNX keeps them in ``metadata_props`` as flat string key/values (:func:`to_props`); TorchScript
and ExportedProgram files keep the same key/values as JSON in an extra file named
:data:`EXTRA_FILE`; the manifest keeps them as nested JSON. :func:`from_props` reads them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from zoo.card import ModelCard
from zoo.errors import ZooError
from zoo.export import facts

EXTRA_FILE = "zoo.json"


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

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ExportInfo:
        opset = data.get("opset")
        return cls(
            batch=str(data.get("batch") or "dynamic"),
            opset=int(opset) if opset not in (None, "", "null") else None,  # type: ignore[arg-type]
            weights_file=str(data.get("weights_file") or ""),
        )


@dataclass(frozen=True)
class FileMetadata:
    """Everything one exported file says about itself."""

    card: ModelCard
    info: ExportInfo
    facts: facts.FileFacts


def to_props(card: ModelCard, info: ExportInfo, file_facts: facts.FileFacts) -> dict[str, str]:
    """The string key/values a file carries."""
    export = {key: "" if value is None else str(value) for key, value in info.to_json().items()}
    return card.to_props() | export | facts.to_props(file_facts)


def from_props(props: Mapping[str, str], where: str) -> FileMetadata:
    """The inverse of :func:`to_props`."""
    if "input_shape" not in props:
        raise ZooError(
            f"{where} carries no zoo metadata (input shape, classes): export it with 'zoo export'"
        )
    return FileMetadata(
        ModelCard.from_props(props, where), ExportInfo.from_json(props), facts.from_props(props)
    )
