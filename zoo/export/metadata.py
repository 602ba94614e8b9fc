"""What every exported file carries: the model card and the facts of the export itself (no torch).

ONNX keeps both in ``metadata_props`` (string key/values: :meth:`ModelCard.to_props` plus
:meth:`ExportInfo.to_props`); TorchScript and ExportedProgram files keep the same key/values as
JSON in an extra file named :data:`EXTRA_FILE`; the manifest keeps them as JSON. By default the
exported graph takes *normalised* input, ``(pixels / 255 - mean) / std`` for images and
``(features - mean) / std`` for tables, as the card's preprocessing says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from zoo.card import ModelCard

EXTRA_FILE = "zoo.json"
INPUTS = ("normalised", "uint8")


@dataclass(frozen=True)
class ExportInfo:
    """How a file was exported: its input convention, batch dimension, opset, and the weights
    file it came from (a name and a hash, never a path of the machine that made it)."""

    input: str = "normalised"  # or "uint8": preprocessing inside the graph
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
            input=str(data.get("input") or "normalised"),
            batch=str(data.get("batch") or "dynamic"),
            opset=int(opset) if opset not in (None, "", "null") else None,  # type: ignore[arg-type]
            weights_file=str(data.get("weights_file") or ""),
        )


def to_props(card: ModelCard, info: ExportInfo) -> dict[str, str]:
    """The string key/values a file carries."""
    export = {key: "" if value is None else str(value) for key, value in info.to_json().items()}
    return card.to_props() | export


def from_props(props: Mapping[str, str], where: str) -> tuple[ModelCard, ExportInfo]:
    """The inverse of :func:`to_props`."""
    return ModelCard.from_props(props, where), ExportInfo.from_json(props)
