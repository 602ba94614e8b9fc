"""The ``zoo`` command: the Typer app, its commands (one module each), and one exit path for
every error.

Command modules import torch and the engine only inside their bodies, never at module level:
``zoo --help`` and ``zoo list`` stay light.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from zoo.cli import (
    bench,
    check,
    data,
    export,
    info,
    new_plugin,
    optimize,
    plugins,
    predict,
    publish,
    runs,
    serve,
    sweep,
    train,
    verify,
    weights,
)
from zoo.cli import eval as eval_command
from zoo.cli import list as list_command
from zoo.cli.help import ZooCommand, ZooGroup
from zoo.cli.output import STOPS, console, error_console
from zoo.errors import ZooError

try:  # recent Typer carries its own copy of Click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older Typer on Click
    from click.exceptions import UsageError  # type: ignore[no-redef]

app = typer.Typer(
    name="zoo",
    cls=ZooGroup,
    help="A PyTorch model zoo: list, train, export and benchmark any registered model, dataset "
    "and optimizer.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        import zoo

        console.print(f"zoo {zoo.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """A PyTorch model zoo. Models, datasets and optimizers are plugins registered through entry
    points.

    Example: `zoo list models 'cifar10-*'`
    """


COMMANDS = {
    "list": list_command.list_,
    "info": info.info,
    "plugins": plugins.plugins,
    "data": data.data,
    "train": train.train,
    "eval": eval_command.eval_,
    "runs": runs.runs,
    "sweep": sweep.sweep,
    "export": export.export,
    "predict": predict.predict,
    "bench": bench.bench,
    "optimize": optimize.optimize,
    "verify": verify.verify,
    "serve": serve.serve,
    "model-repo": serve.model_repo,
    "publish": publish.publish,
    "check": check.check,
    "new-plugin": new_plugin.new_plugin,
}
for name, command in COMMANDS.items():
    app.command(name, cls=ZooCommand)(command)
SUBCOMMANDS = {"weights": weights.app}  # groups of commands: zoo weights fetch|list|prune
for name, group in SUBCOMMANDS.items():
    app.add_typer(group, name=name)


def usage_line(error: UsageError) -> str:
    """A usage error (unknown option, missing argument, bad value) as one line with a hint."""
    command = error.ctx.command_path if error.ctx else "zoo"
    message = " ".join(error.format_message().split())
    return f"{message} (see '{command} --help')"


def fail(message: str) -> None:
    """Print ``error: message`` on stderr (one line however wide) and exit with status 2."""
    error_console.print(
        f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True
    )
    sys.exit(2)


def main() -> None:
    """Console-script entry point: every user error is one line on stderr and exit status 2;
    Ctrl-C says what it stopped and exits 130."""
    STOPS.clear()
    try:
        code = app(prog_name="zoo", standalone_mode=False)
    except UsageError as exc:
        if not exc.format_message().strip():  # bare `zoo`: the help was the answer
            sys.exit(0)
        fail(usage_line(exc))
    except ZooError as exc:
        fail(str(exc))
    except (KeyboardInterrupt, typer.Abort):
        code = 130
    if code == 130 and not STOPS:  # Ctrl-C where the command had nothing of its own to say
        command = " ".join(sys.argv[1:2]) or "zoo"
        error_console.print(
            f"interrupted: zoo {command} stopped; nothing half-written was kept", highlight=False
        )
    sys.exit(code if isinstance(code, int) else 0)
