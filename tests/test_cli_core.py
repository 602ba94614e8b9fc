"""The core commands as a user types them: version, help with examples, clear errors."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest
from conftest import run_zoo


def test_version():
    result = run_zoo("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"zoo {version('torch-zoo')}"


@pytest.mark.parametrize("command", ["list", "info", "plugins"])
def test_every_command_has_help_with_an_example(command):
    result = run_zoo(command, "--help")
    assert result.returncode == 0
    assert "Example: zoo " in result.stdout


def test_info_describes_a_builtin_optimizer():
    report = json.loads(run_zoo("info", "sgd", "--json").stdout)
    assert report["kind"] == "optimizer" and report["source"] == "torch-zoo"
    names = [p["name"] for p in report["parameters"]]
    assert names[:3] == ["params", "lr", "momentum"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "gadgets", "*"], "unknown kind 'gadgets'"),
        (["info", "nosuchthing"], "unknown name 'nosuchthing'"),
        (["info", "sgd", "--kind", "widget"], "unknown kind 'widget'"),
        (["info", "sgd", "--kind", "model"], "unknown model 'sgd' ('sgd' is an optimizer)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = run_zoo(*args)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {result.stderr.strip()[7:]}"
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_help_and_list_load_only_the_command_that_runs():
    """The app imports a command's module when that command runs: `zoo --help` reads the
    commands' help from their source, `zoo list` loads the list command alone."""
    import ast
    import subprocess
    import sys

    from zoo.cli.app import COMMANDS

    probe = (
        "import sys; sys.argv = ['zoo'] + sys.argv[1:]\n"
        "import zoo.launch\n"
        "try:\n    zoo.launch.main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith('zoo')), file=sys.stderr)\n"
    )
    modules = {module for module, _ in COMMANDS.values()}
    for args, own in ((["--help"], set()), (["list"], {"zoo.cli.list"})):
        result = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120
        )
        line = next(x for x in result.stderr.splitlines() if x.startswith("LOADED"))
        loaded = set(ast.literal_eval(line.removeprefix("LOADED ")))
        assert loaded & modules == own, args
        assert not {"zoo.weights", "zoo.meta", "zoo.export"} & loaded, args
    assert "weights" in result.stdout or result.returncode == 0


def test_shell_completion_lists_commands_and_a_command_s_options():
    names = run_zoo(_ZOO_COMPLETE="complete_bash", COMP_WORDS="zoo ex", COMP_CWORD="1")
    assert names.stdout.split() == ["export"]
    options = run_zoo(_ZOO_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS="zoo bench --max")
    assert '"--max-time":' in options.stdout
