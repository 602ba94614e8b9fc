"""The options of ``zoo publish``, each declared once as a field of :class:`PublishRequest` with
its flag (the ``--int8``/``--fp16`` switches come from the precisions' registry, as for
``zoo export``)."""

from __future__ import annotations

from dataclasses import dataclass

from zoo import flags
from zoo.flags import flag, option

SPLITS = ("test", "val", "train")


@dataclass(frozen=True)
class PublishRequest:
    """What to publish (a run directory or a checkpoint), under which name, and where to."""

    spec: str
    name: str | None = option(
        None,
        flag(
            "--name",
            help="The weights' name, as in 'zoo predict MODEL --weights NAME'. Required.",
        ),
    )
    out: str | None = option(
        None,
        flag(
            "--out",
            help="The release folder, replaced whole (default: releases/MODEL-NAME).",
            metavar="DIR",
        ),
    )
    license: str | None = option(
        None,
        flag(
            "--license",
            help="The weights' licence as the Hub names it: mit, apache-2.0, cc-by-4.0...",
        ),
    )
    plugin: str | None = option(
        None,
        flag(
            "--plugin",
            help="A plugin project to add the weights (or with --to, their URL) to.",
            metavar="DIR",
        ),
    )
    to: str | None = option(
        None,
        flag(
            "--to",
            help="Also publish it to the Hub, or to a folder a web server serves.",
            metavar="hf://OWNER/REPO|DIR",
        ),
    )
    base_url: str | None = option(
        None,
        flag(
            "--base-url",
            help="The http(s):// address the --to folder is served at (default: file://).",
            metavar="URL",
        ),
    )
    note: str | None = option(
        None,
        flag(
            "--note",
            help="What a user should know (a deviation from the recipe...).",
        ),
    )
    split: str = option(
        "test",
        flag(
            "--split",
            help="The split the metrics are measured on again (default: test).",
        ),
        check=flags.one_of(SPLITS),
    )
    data_dir: str | None = option(
        None,
        flags.DATA_DIR.with_help("Where the weights' dataset is (default: the run's)."),
        parse=flags.existing_folder,
    )
    device: str = option("auto", flags.DEVICE)
    precisions: tuple[str, ...] = ()  # derived ONNX files: int8, fp16 (the CLI's switches)


@dataclass(frozen=True)
class FetchRequest:
    """``zoo weights fetch``: which declared weights (or which Hub release) to download now."""

    spec: str | None = None  # a model, hf://OWNER/REPO, or None: every installed model
    name: str | None = option(
        None,
        flag("--name", help="Only these weights of MODEL (a name it declares, or 'default')."),
    )


@dataclass(frozen=True)
class PruneRequest:
    """``zoo weights prune``: what to remove from the cache."""

    dry_run: bool = option(
        False,
        flag("--dry-run", help="Show what would be removed; remove nothing.", kind=bool),
    )
