"""``zoo check`` and ``zoo new-plugin``: what plugin authors run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zoo import options
from zoo.errors import ZooError


def check(
    names: Annotated[
        list[str], typer.Argument(help="Registered names (or distribution:name) to check.")
    ],
    input_shape: options.InputShape = None,
    num_classes: options.NumClasses = None,
    model_arg: options.ModelArg = None,
    export: Annotated[
        bool, typer.Option(help="Also check TorchScript, ExportedProgram and ONNX export.")
    ] = True,
    data_dir: options.DataDir = None,
    as_json: options.Json = False,
) -> None:
    """Check that entries follow zoo's plugin contract: a checklist, exit 1 on any failure.

    Models: load, build, forward and backward, output shape, safetensors round trip, and exports
    that match eager. Datasets: both splits build, items and classes. Optimizers: steps lower a loss.

    Example: `zoo check my-net --input-shape 1,28,28 --num-classes 10`
    """
    from zoo import testing
    from zoo.console import console, print_json
    from zoo.factory import default_input, get_model_info
    from zoo.registry import KINDS, get_registry

    registry = get_registry()
    args = options.parse_assignments(model_arg, "--model-arg")
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


def new_plugin(
    name: Annotated[str, typer.Argument(help="The model's registry name, e.g. my-net.")],
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to create the package (created if missing).")
    ] = Path("."),
) -> None:
    """Write a ready plugin package (pyproject with entry points, a model, a conformance test, a README).

    Example: `zoo new-plugin my-net && pip install -e ./zoo-my-net && zoo check my-net`
    """
    from zoo.console import console
    from zoo.scaffold import new_plugin as write

    root = write(name, directory)
    console.print(f"wrote {root}", markup=False)
    console.print(
        f"next: pip install -e '{root}[test]' && zoo check {name} && pytest {root}", markup=False
    )
