"""The ``zoo`` console script's front door.

``zoo predict MODEL INPUT... [--top-k N] [--weights W] [--json]`` whose ONNX export is already
cached (see :mod:`zoo.predict.cache`) runs here, without loading the command-line app
(Typer and every command module): a cached prediction then costs ONNX Runtime's start-up and
little more, and never imports torch. The options are read from the same declaration the full
command uses (:class:`zoo.predict.options.PredictOptions`). Everything else, including every other
form of ``zoo predict``, goes to :mod:`zoo.cli.app`, which parses it in full.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from zoo.errors import CacheDamaged, ZooError


def quick_predict(args: list[str]) -> Any:
    """``args`` as a plain ``predict MODEL INPUT...`` request (a
    :class:`~zoo.predict.options.PredictOptions`), or None for anything else (help, other options,
    an ONNX file, a value the full command would refuse): the full command line handles those."""
    if len(args) < 3 or args[0] != "predict":
        return None  # before any import: every other command goes straight to the app
    from zoo.sources import names_model
    from zoo.weights.releases import is_hub_spec

    if not (names_model(args[1]) or is_hub_spec(args[1])):
        return None
    from zoo.flags import build, read_words
    from zoo.predict.options import PredictOptions

    read = read_words(PredictOptions, args[2:])
    if read is None or not read[1]:
        return None
    values, inputs = read
    try:
        return build(PredictOptions, values, text=True, model=args[1], inputs=tuple(inputs))
    except ZooError:  # a value the full command explains
        return None


def run_quick(request: Any) -> bool:
    """Predict from the cached export; False when there is none yet (the full command makes it)."""
    from zoo.predict.cache import cached
    from zoo.sources import resolve

    try:
        path = cached(resolve(request.model, request.weights))
    except CacheDamaged as exc:  # removed: the full command makes it again
        sys.stderr.write(f"note: {exc}\n")
        return False
    if path is None:
        return False
    # this process only predicts: numpy's BLAS threads (started when numpy is imported, next)
    # would only spin, taking CPU from ONNX Runtime
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from zoo.cli.predictions import print_predictions
    from zoo.predict.onnx import Predictor

    predictor = Predictor(path, len(request.inputs), checked=True)  # checked just now
    predictions = predictor.predict(list(request.inputs), top_k=request.top_k)
    print_predictions(predictions, predictor.card.regression, request.json)
    return True


def main() -> None:
    """The ``zoo`` command: the quick path when it applies, else the full command line."""
    try:
        request = quick_predict(sys.argv[1:])
        if request is not None and run_quick(request):
            return
    except ZooError as exc:
        from zoo.cli.app import fail

        fail(str(exc))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: zoo predict stopped; nothing was written\n")
        sys.exit(130)
    from zoo.cli.app import main as full

    full()
