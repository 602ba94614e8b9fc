"""The ``zoo`` command: the Typer app, its commands (one module each), and one exit path for
every error.

A command's module is imported only when that command runs (or its help or completion is asked
for): ``zoo --help`` lists the commands by name with the first paragraph of each one's docstring,
read from its module's source without importing it, so ``zoo --help`` and ``zoo list`` stay
light. Command modules import torch and the engine only inside their bodies.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from zoo.cli.output import STOPS, console, error_console
from zoo.errors import ZooError

try:  # recent Typer carries its own copy of Click
    from typer._click import Command, Context
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older Typer on Click
    from click import Command, Context  # type: ignore[no-redef]
    from click.exceptions import UsageError  # type: ignore[no-redef]

COMMANDS = {  # name: (module, the command's function, or a Typer app for a group of commands)
    "list": ("zoo.cli.list", "list_"),
    "info": ("zoo.cli.info", "info"),
    "plugins": ("zoo.cli.plugins", "plugins"),
    "data": ("zoo.cli.data", "data"),
    "train": ("zoo.cli.train", "train"),
    "eval": ("zoo.cli.eval", "eval_"),
    "runs": ("zoo.cli.runs", "runs"),
    "sweep": ("zoo.cli.sweep", "sweep"),
    "export": ("zoo.cli.export", "export"),
    "predict": ("zoo.cli.predict", "predict"),
    "bench": ("zoo.cli.bench", "bench"),
    "optimize": ("zoo.cli.optimize", "optimize"),
    "verify": ("zoo.cli.verify", "verify"),
    "serve": ("zoo.cli.serve", "serve"),
    "model-repo": ("zoo.cli.serve", "model_repo"),
    "publish": ("zoo.cli.publish", "publish"),
    "check": ("zoo.cli.check", "check"),
    "new-plugin": ("zoo.cli.new_plugin", "new_plugin"),
    "weights": ("zoo.cli.weights", "app"),  # zoo weights fetch|list|prune
}
SETTINGS: dict[str, Any] = {
    "rich_markup_mode": "markdown",
    "pretty_exceptions_enable": False,
    "context_settings": {"help_option_names": ["-h", "--help"]},
}


def load(name: str) -> Command:
    """The command ``name`` as Click runs it: its module imported, its function made a Typer
    command (or its group of commands)."""
    from zoo.cli.help import ZooCommand

    module, attribute = COMMANDS[name]
    found = getattr(importlib.import_module(module), attribute)
    if isinstance(found, typer.Typer):
        group = typer.main.get_group(found)
        group.name = name
        return group
    single = typer.Typer(add_completion=False, **SETTINGS)
    single.command(name, cls=ZooCommand)(found)
    return typer.main.get_command(single)


def docstring(name: str) -> str:
    """A command's help as its function's docstring (a group's: its Typer's ``help``), read
    from the module's source; imported when the source is not there (a zipped install)."""
    module, attribute = COMMANDS[name]
    spec = importlib.util.find_spec(module)
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    if origin is None or origin.suffix != ".py":
        return inspect.getdoc(getattr(importlib.import_module(module), attribute)) or ""
    for node in ast.parse(origin.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name == attribute:
            return ast.get_docstring(node) or ""
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == attribute for t in node.targets
        ):
            keywords = node.value.keywords if isinstance(node.value, ast.Call) else []
            return next((ast.literal_eval(k.value) for k in keywords if k.arg == "help"), "")
    return ""


class Listed(TyperCommand):
    """A command as ``zoo --help`` and shell completion list it: its name and help alone."""


class LazyGroup(TyperGroup):
    """zoo's commands by name, each loaded (:func:`load`) only when it is resolved to run."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.commands = dict.fromkeys(COMMANDS)  # names, for "did you mean"

    def list_commands(self, ctx: Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in COMMANDS:
            return None
        return Listed(cmd_name, help=docstring(cmd_name))

    def format_help(self, ctx: Context, formatter: Any) -> None:
        from zoo.cli.help import print_help  # zoo --help: the help renderer, not the commands

        print_help(self, ctx)

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name is not None and isinstance(command, Listed):
            command = load(name)
        return name, command, rest


app = typer.Typer(
    name="zoo",
    help="A PyTorch model zoo: list, train, export and benchmark any registered model, dataset "
    "and optimizer.",
    no_args_is_help=True,
    cls=LazyGroup,
    **SETTINGS,
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
