"""The source options ``zoo export`` and ``zoo bench`` share (declared once, on
:class:`~zoo.sources.SourceRequest`), and the source argument's help."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer

from zoo import flags
from zoo.cli.params import parameters
from zoo.sources import SourceRequest

SourceArg = Annotated[
    str | None,
    typer.Argument(
        metavar="RUN_DIR|CHECKPOINT|EXPORT_DIR|MODEL",
        help="What to use; a model has fresh weights, or --weights (default: the newest run).",
        show_default=False,
    ),
]
SOURCE_OPTIONS = parameters(SourceRequest)


def source_request(spec: str | None, values: dict[str, Any]) -> SourceRequest:
    """The source options the user gave (taken out of ``values``), the newest run when no
    source is named."""
    from zoo.cli.runs import newest

    request = flags.build(SourceRequest, values, spec=spec)
    if spec is None and request.weights is None:
        request = dataclasses.replace(request, spec=str(newest(request.runs)))
    return request
