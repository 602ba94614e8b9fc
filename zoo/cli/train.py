"""``zoo train``: parse and print; the work is in zoo.train.

``zoo train``'s options are not written here: they come from the fields of
:class:`zoo.artifacts.config.TrainConfig`, where each is declared once, and of
:class:`zoo.train.config.TrainRequest` (``--config``, ``--resume``, ``--print-config``).
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.console import Console

from zoo.artifacts.config import TrainConfig
from zoo.cli.params import parameters, with_options
from zoo.errors import ZooError
from zoo.flags import build
from zoo.train.config import TrainRequest, configure, flags_layer


def rank_console() -> Console:
    """The console; quiet on every process but rank 0 under torchrun."""
    return Console(quiet=int(os.environ.get("RANK", "0")) != 0)


@with_options([*parameters(TrainConfig), *parameters(TrainRequest)])
def train(
    model: Annotated[
        str | None,
        typer.Argument(
            metavar="MODEL",
            help="A registered model (or set 'model' in --config).",
            show_default=False,
        ),
    ] = None,
    **values: Any,
) -> None:
    """Train a model on a dataset: recipe defaults, progress, checkpoints, plots, resume.

    Defaults come from the model's published recipe; --config FILE.toml and then flags override
    them. Each run gets a directory `OUT/<model>-<dataset>-<time>` with config.json/.toml,
    metrics.jsonl, checkpoints/last.safetensors (and best.safetensors when validating on items held
    out of the train split), plots/*.png and per_class.json/.csv. Ctrl-C finishes the epoch, saves
    and stops (twice: stops now); --resume continues exactly. Under torchrun, trains with
    DistributedDataParallel, rank 0 writing the run directory.

    What some options mean in full:

    - --val-split SHARE|COUNT holds items out of the train split and keeps the weights of the
      epoch best on them; 0 validates on the test split and keeps the last epoch's.
    - --scheduler: cosine anneals per epoch to 0; linear (airbench's shape) and onecycle (the
      same on cosine curves) change the rate every step, from --lr-start up to 1 over --warmup,
      then down to --lr-end (as shares of --lr).
    - --param-group PATTERN:lr_scale=X,decay_scale=Y,epochs=N: parameters whose names match the
      fnmatch PATTERN (e.g. `*norm*.bias`) get X times the rate and Y times the weight decay,
      and train in the first N epochs only; the first matching pattern wins.
    - --ema DECAY keeps an exponential moving average of the weights, which validation and the
      checkpoints use; --lookahead makes the weights jump to it after each update, its decay
      growing with the cube of the training done (airbench's lookahead).
    - --flip random flips half the images of each batch; alternate flips each image on every
      other epoch, from a seeded start. --translate N shifts by up to N pixels, --padding
      saying what comes in at the border.
    - --precision bf16 trains in bfloat16 autocast (float32 weights); auto picks bf16 where
      the hardware has it natively (CPUs with AVX512_BF16 or AMX, GPUs from Ampere on).
    - --weights starts from trained weights, with a new head where the class count differs.

    Examples:

    - `zoo train cifar10-cnn -d imagefolder --data-dir /tmp/cifar10 --epochs 20`
    - `zoo train mnist-mlp --opt-arg weight_decay=1e-4 --val-split 0.1`
    - `zoo train --resume runs/cifar10-cnn-imagefolder-20250101-120000`
    - `torchrun --nproc-per-node 2 -m zoo train mnist-mlp --device cpu`
    """
    run_train(build(TrainRequest, values, model=model, options=flags_layer(values)))


def run_train(request: TrainRequest) -> None:
    """Resolve the configuration, train with a display, say how the run ended."""
    resolved = configure(request)
    if request.print_config:
        typer.echo(resolved.to_toml(), nl=False)
        return
    from zoo.cli.output import stop_said
    from zoo.cli.train_display import TrainDisplay
    from zoo.train.loop import train as run_training

    console = rank_console()
    display = TrainDisplay(console)
    try:
        outcome = run_training(resolved, [display], resume_dir=request.resume)
    finally:
        display.close_bar()
    console.print(f"run directory: {outcome.run_dir}", highlight=False, soft_wrap=True)
    if outcome.status == "diverged":
        raise ZooError(f"{outcome.message} (run directory: {outcome.run_dir})")
    if outcome.status == "interrupted":
        saved = f"after epoch {outcome.epoch}" if outcome.epoch else "before the first epoch ended"
        launcher = "torchrun ... -m zoo" if os.environ.get("TORCHELASTIC_RUN_ID") else "zoo"
        stop_said()
        console.print(
            f"[yellow]stopped {saved}[/yellow]; resume with:\n"
            f"  {launcher} train --resume {outcome.run_dir}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130)
