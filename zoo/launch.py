"""The ``zoo`` console script's front door, and how predictions are printed.

``zoo predict MODEL INPUT... [--top-k N] [--weights W] [--json]`` whose ONNX export is already
cached (see :mod:`zoo.prepared`) runs here, without loading the command-line app (Typer and every
command module): a cached prediction then costs ONNX Runtime's start-up and little more, and
never imports torch. Everything else, including every other form of ``zoo predict``, goes to
:mod:`zoo.cli`, which parses it in full.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from zoo.errors import ZooError


@dataclass(frozen=True)
class QuickPredict:
    """A ``zoo predict MODEL ...`` command line in its plain form."""

    model: str
    inputs: tuple[str, ...]
    top_k: int = 5
    weights: str = "default"
    as_json: bool = False


def quick_predict(args: list[str]) -> QuickPredict | None:
    """``args`` as a plain ``predict MODEL INPUT...`` request, or None for anything else (help,
    other options, an ONNX file): the full command line handles those."""
    from zoo.weights import names_model

    if len(args) < 3 or args[0] != "predict" or not names_model(args[1]):
        return None
    inputs, options = [], {"top_k": 5, "weights": "default", "as_json": False}
    rest = iter(args[2:])
    for arg in rest:
        name, _, value = arg.partition("=")
        if name in ("--top-k", "--weights") and not value:
            value = next(rest, "")
        if name == "--top-k" and value.isdigit() and int(value) >= 1:
            options["top_k"] = int(value)
        elif name == "--weights" and value and not value.startswith("-"):
            options["weights"] = value
        elif arg == "--json":
            options["as_json"] = True
        elif arg.startswith("-") and not _number_row(arg):
            return None
        else:
            inputs.append(arg)
    return QuickPredict(args[1], tuple(inputs), **options) if inputs else None


def _number_row(arg: str) -> bool:
    """A table model's input row may start with a minus sign: ``-1.5,2,0.3``."""
    try:
        [float(value) for value in arg.split(",")]
    except ValueError:
        return False
    return True


def run_quick(request: QuickPredict) -> bool:
    """Predict from the cached export; False when there is none yet (the full command makes it)."""
    from zoo.prepared import cache_folder, onnx_file

    path = onnx_file(cache_folder(request.model, request.weights))
    if path is None:
        return False
    # this process only predicts: numpy's BLAS threads (started when numpy is imported, next)
    # would only spin, taking CPU from ONNX Runtime
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from zoo.export.predict import Predictor

    predictor = Predictor(path, len(request.inputs))
    predictions = predictor.predict(list(request.inputs), top_k=request.top_k)
    print_predictions(predictions, predictor.card.regression, request.as_json)
    return True


def print_predictions(predictions: list[Any], regression: bool, as_json: bool) -> None:
    """`zoo predict`'s output: JSON rows, or each input with its top classes (or outputs); plain
    text unless stdout is a terminal (Rich is not even imported then)."""
    if as_json:
        rows = [
            {"input": p.input, "outputs": [{"label": k, "value": v} for k, v in p.labels]}
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

    from zoo.console import console

    for text, name in lines:
        console.print(f"[bold]{escape(text)}[/bold]" if name else escape(text))


def main() -> None:
    """The ``zoo`` command: the quick path when it applies, else the full command line."""
    request = quick_predict(sys.argv[1:])
    if request is not None:
        try:
            if run_quick(request):
                return
        except ZooError as exc:
            from zoo.cli import fail

            fail(str(exc))
    from zoo.cli import main as full

    full()
