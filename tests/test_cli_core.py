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
