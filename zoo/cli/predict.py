"""``zoo predict``: an ONNX file, an export directory or a model's trained weights on images or
feature rows, with ONNX Runtime alone (its options are :class:`~zoo.predict.options.PredictOptions`,
which the quick cached path in :mod:`zoo.launch` reads too)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from zoo.cli.params import parameters, with_options
from zoo.flags import build
from zoo.predict.options import PredictOptions


@with_options(parameters(PredictOptions))
def predict(
    model_file: Annotated[
        str,
        typer.Argument(
            metavar="MODEL.onnx|EXPORT_DIR|MODEL|RUN_DIR|CHECKPOINT|hf://OWNER/REPO",
            help="An exported ONNX file or directory, a model, a run or checkpoint, or a "
            "published release.",
        ),
    ],
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="IMAGE", help="Image files (or comma-separated features for table models)."
        ),
    ],
    **values: Any,
) -> None:
    """Predict with ONNX Runtime alone (no PyTorch), preparing inputs as the file's card says.

    Prints the top classes with probabilities (softmax of logits, exp of log-probabilities, or the
    file's own, from `zoo export --softmax`), or the raw outputs of a regression model; says on
    stderr when an input had to be converted (a colour photo for a greyscale model, another
    size). Files from `zoo export --embed-preprocessing` get the raw pixels (uint8 N×C×H×W) or
    feature rows and normalise them themselves. An export directory means the file `zoo
    optimize` chose (with its runtime and settings), else its float32 ONNX file. A file of an
    export directory runs only if it is one its manifest.json lists, unchanged (sha256); a file
    copied out of its directory has nothing to be checked against. A model name uses its
    trained weights (--weights, default: its default ones): the first call exports them to
    ONNX (verified) into $ZOO_HOME/predict; later calls use that file and never import PyTorch.
    A release `zoo publish` put on the Hub is downloaded once.

    Examples:

    - `zoo predict exports/cifar10-cnn/cifar10-cnn.onnx cat.jpg ship.png --top-k 3`
    - `zoo predict cifar10-cnn cat.jpg`
    - `zoo predict hf://someone/cifar10-cnn cat.jpg` (its ONNX file, downloaded once)
    """
    run_predict(build(PredictOptions, values, model=model_file, inputs=tuple(inputs)))


def run_predict(request: PredictOptions) -> None:
    """Find (or make) the file to run, check it, predict, print."""
    from zoo.cli import output
    from zoo.cli.output import error_console, interruptible
    from zoo.cli.predictions import print_predictions
    from zoo.predict.cache import PREDICTS, file_for
    from zoo.predict.onnx import Predictor
    from zoo.sources import ExportDirectory, HubRelease, OnnxFile, resolve

    source = resolve(request.model, request.weights, accept=PREDICTS, command="zoo predict")
    inputs = list(request.inputs)

    def say(text: str) -> None:
        output.say(error_console, text, markup=False)

    # a file or an export directory is checked against its manifest by the predictor; what
    # the cache or the Hub hands back was checked as it was found
    checked = not isinstance(source, (OnnxFile, ExportDirectory))
    nothing = "nothing was cached (the next call starts again)"
    work = "download" if isinstance(source, HubRelease) else "export"
    with interruptible(f"the {work} of {source.label} for zoo predict stopped", nothing):
        path = file_for(source, inputs, say)
    predictor = Predictor(path, len(inputs), torch_opener(str(path)), checked=checked)
    predictions = predictor.predict(inputs, top_k=request.top_k)
    print_predictions(predictions, predictor.card.regression, request.json)


def torch_opener(path: str) -> Any:
    """torch's opener, only for an export directory whose decision chose a PyTorch file (the
    one case where predict loads torch: it is the runtime chosen)."""
    from pathlib import Path

    from zoo.artifacts.manifest import Manifest, is_export_dir

    if not is_export_dir(Path(path)):
        return None
    decision = Manifest.read(Path(path)).decision
    if decision is None or decision.run.runtime != "torch":
        return None
    from zoo.export.formats import FORMATS
    from zoo.export.runtimes import torch_predictor

    def open_torch(file: Path, run: Any) -> tuple[Any, dict[str, str], None]:
        return torch_predictor(file, run.threads), FORMATS[run.format].read_props(file), None

    return open_torch
