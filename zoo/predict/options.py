"""The options of ``zoo predict``, declared once as the fields of :class:`PredictOptions`: the
command line and the quick cached path in :mod:`zoo.launch` read the same declaration. No torch,
no Typer here.
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo import flags
from zoo.flags import flag, option


@dataclass(frozen=True)
class PredictOptions:
    """A ``zoo predict`` request: what to run on which inputs (options declared once, here; the
    quick cached path in :mod:`zoo.launch` reads the same declaration)."""

    model: str  # an ONNX file, an export directory or a model name
    inputs: tuple[str, ...]
    top_k: int = option(
        5,
        flag("--top-k", help="How many classes to show per input.", kind=int, min=1),
        check=flags.at_least(1),
    )
    weights: str | None = option(None, flags.WEIGHTS)
    json: bool = option(False, flags.JSON)
