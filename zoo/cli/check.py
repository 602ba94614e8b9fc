"""``zoo check``: a plugin entry against zoo's plugin contract, as a checklist (the checks are
:mod:`zoo.conformance`'s)."""

from __future__ import annotations

from typing import Annotated

import typer

from zoo import flags
from zoo.cli.params import Json, opt
from zoo.errors import ZooError


def check(
    names: Annotated[
        list[str], typer.Argument(help="Registered names (or distribution:name) to check.")
    ],
    input_shape: opt(flags.INPUT_SHAPE) = None,
    num_classes: opt(flags.NUM_CLASSES) = None,
    model_arg: opt(flags.MODEL_ARG) = None,
    export: Annotated[
        bool, typer.Option(help="Also check TorchScript, ExportedProgram and ONNX export.")
    ] = True,
    data_dir: opt(flags.DATA_DIR) = None,
    as_json: Json = False,
) -> None:
    """Check that entries follow zoo's plugin contract: a checklist, exit 1 on any failure.

    Models: load, build, forward and backward, output shape, safetensors round trip, and exports
    that match eager. Datasets: both splits build, items and classes. Optimizers: steps lower a loss.

    Example: `zoo check my-net --input-shape 1,28,28 --num-classes 10`
    """
    run_check(names, input_shape, num_classes, model_arg, export, data_dir, as_json)


def run_check(
    names: list[str],
    input_shape: str | None,
    num_classes: int | None,
    model_arg: list[str] | None,
    export: bool,
    data_dir: str | None,
    as_json: bool,
) -> None:
    """Check each entry of every kind its name has; print the checklists."""
    from zoo import conformance as testing
    from zoo.cli.output import console, print_json
    from zoo.factory import default_input
    from zoo.registry import KINDS, get_model_info, get_registry

    registry = get_registry()
    args = flags.parse_assignments(model_arg, "--model-arg")
    reports = []
    for name in names:
        bare = name.rpartition(":")[2]
        kinds = [k for k in KINDS if registry.names(k, bare)]
        if not kinds:
            raise registry.unknown(None, bare)
        for kind in kinds:
            if kind == "model":
                try:
                    shape, classes = default_input(get_model_info(name), input_shape, num_classes)
                except ZooError:  # the entry is broken: check_model reports it
                    shape, classes = (3, 32, 32), 10
                reports.append(testing.check_model(name, shape, classes, args, export=export))
            elif kind == "dataset":
                reports.append(testing.check_dataset(name, root=data_dir))
            else:
                reports.append(testing.check_optimizer(name))
    if as_json:
        print_json([r.as_dict() for r in reports])
    else:
        for report in reports:
            console.print(f"[bold]{report.kind} {report.name}[/bold]")
            for item in report.checks:
                mark = {True: "[green]✓[/green]", False: "[red]✗[/red]", None: "[dim]-[/dim]"}[
                    item.passed
                ]
                console.print(
                    f"  {mark} {item.title}"
                    + (f" [dim]({item.detail})[/dim]" if item.detail else ""),
                    highlight=False,
                )
        failed = [r for r in reports if not r.passed]
        console.print(f"{len(reports) - len(failed)} of {len(reports)} passed.")
    if any(not r.passed for r in reports):
        raise typer.Exit(1)
