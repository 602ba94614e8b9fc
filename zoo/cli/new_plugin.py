"""``zoo new-plugin``: a ready plugin package to start from (written by :mod:`zoo.scaffold`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def new_plugin(
    name: Annotated[str, typer.Argument(help="The model's registry name, e.g. my-net.")],
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to create the package (created if missing).")
    ] = Path("."),
) -> None:
    """Write a ready plugin package (pyproject with entry points, a model, a conformance test, a README).

    Example: `zoo new-plugin my-net && pip install -e ./zoo-my-net && zoo check my-net`
    """
    from zoo.cli.output import console
    from zoo.scaffold import new_plugin as write

    root = write(name, directory)
    console.print(f"wrote {root}", markup=False)
    console.print(
        f"next: pip install -e '{root}[test]' && zoo check {name} && pytest {root}", markup=False
    )
