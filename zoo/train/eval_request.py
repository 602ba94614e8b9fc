"""The options of ``zoo eval``, declared once as the fields of :class:`EvalRequest` (training's
own are :class:`~zoo.artifacts.config.TrainConfig`'s). No torch here: the CLI reads these
declarations at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from zoo import flags
from zoo.artifacts.config import PRECISION, TTA, precision_option, tta_option
from zoo.flags import flag, option

SPLITS = ("train", "val", "test")
EVAL_BATCH = 256


@dataclass(frozen=True)
class EvalRequest:
    """What to evaluate on, and how."""

    spec: str | None = None  # the command's argument: a run, a checkpoint, a model
    weights: str | None = option(None, flags.WEIGHTS)
    dataset: str | None = option(None, flags.DATASET)
    dataset_args: dict[str, str] = option(
        {},
        flags.DATASET_ARG,
        parse=flags.assignments("--dataset-arg"),
    )
    data_dir: str | None = option(None, flags.DATA_DIR, parse=flags.existing_folder)
    split: str = option(
        "test",
        flag("--split", help="train, val or test (default: test)."),
        check=flags.one_of(SPLITS),
    )
    batch_size: int = option(
        EVAL_BATCH,
        flag("--batch-size", "-b", help="Batch size (default: 256).", kind=int | None),
        check=flags.at_least(1),
    )
    device: str = option("auto", flags.DEVICE)
    out: str | None = option(
        None,
        flag(
            "--out",
            help="Where the results go (default: RUN_DIR/eval/DATASET-SPLIT).",
            metavar="DIR",
        ),
    )
    runs: str | None = option(None, flags.RUNS)
    tta: str | None = tta_option(
        None,
        TTA.with_help("Test-time augmentation (default: as the weights were measured, else none)."),
    )
    precision: str = precision_option("fp32", PRECISION.with_default("fp32"))
