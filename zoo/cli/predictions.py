"""How predictions are printed, by ``zoo predict`` and by its quick cached path alike: JSON rows,
or each input with its top classes (or outputs); plain text unless stdout is a terminal (Rich is
not even imported then), and what had to be done to an input on stderr. No Typer, no torch."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_predictions(predictions: list[Any], regression: bool, as_json: bool) -> None:
    for prediction in predictions:
        for note in prediction.notes:
            sys.stderr.write(f"note: {prediction.input}: {note}\n")
    if as_json:
        rows = [
            {
                "input": p.input,
                "outputs": [{"label": k, "value": v} for k, v in p.labels],
                "notes": p.notes,
            }
            for p in predictions
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    lines: list[tuple[str, bool]] = []  # (text, whether it is an input's name)
    for prediction in predictions:
        lines.append((prediction.input, True))
        for label, value in prediction.labels:
            shown = f"{value:.4f}" if regression else f"{value:7.2%}"
            lines.append((f"  {label:<24} {shown}", False))
    if not sys.stdout.isatty():
        sys.stdout.write("".join(text + "\n" for text, _ in lines))
        return
    from rich.markup import escape

    from zoo.cli.output import console

    for text, name in lines:
        console.print(f"[bold]{escape(text)}[/bold]" if name else escape(text))
