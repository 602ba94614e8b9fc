"""Help that tells the truth and reads well at 80 columns: an option named in a command's help is
an option of that command (or is named with the command that has it), switches show no type,
choices show their values and complete in the shell, metavars follow Click's conventions, and
nothing is cut or wider than the terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from conftest import zoo_here

from zoo.cli.app import COMMANDS as NAMES
from zoo.cli.app import app, load

ROOT = typer.main.get_command(app)
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
ELSEWHERE = re.compile(r"[`']zoo ([a-z-]+)((?: [^`']*)?)[`']")  # `zoo OTHER ...` names its own
PROGRAMS = re.compile(r"`(?!zoo )[a-z][^`]*`")  # `torchrun --nproc-per-node ...`: another program
MOST_HELP = 90  # characters of an option's help: details go into the command's description


def commands() -> dict[str, object]:
    """Every command and group, by how it is typed: ``train``, ``weights fetch``, ``weights``."""
    found: dict[str, object] = {"": ROOT}
    for name in NAMES:  # loaded as running them loads them (zoo --help lists names only)
        command = load(name)
        found[name] = command
        for sub, subcommand in getattr(command, "commands", {}).items():
            found[f"{name} {sub}"] = subcommand
    return found


COMMANDS = commands()


def options(command: object) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)}


def texts(command: object) -> list[str]:
    """What the command says of itself: its description and every parameter's help."""
    return [command.help or "", *(param.help or "" for param in command.params)]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_a_help_names_is_one_the_command_takes(name: str) -> None:
    command = COMMANDS[name]
    for text in texts(command):
        for other, rest in ELSEWHERE.findall(text):
            target = COMMANDS[other]
            sub = rest.split()[0] if rest.split() else ""
            target = getattr(target, "commands", {}).get(sub, target)  # `zoo weights fetch ...`
            assert set(FLAG.findall(rest)) <= options(target), (name, other, rest)
        alone = set(FLAG.findall(PROGRAMS.sub("", ELSEWHERE.sub("", text))))
        assert alone <= options(command), (name, sorted(alone - options(command)), text)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_fits_80_columns_and_shows_metavars_as_click_does(name: str) -> None:
    result = zoo_here(*name.split(), "--help", columns=80)
    assert result.returncode == 0, result.stderr
    page = result.stdout
    lines = page.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in page  # nothing cut
    for python_like in ("<bool>", "<str>", "<int", "<float>", "<list", "<path>", "[[", "...}"):
        assert python_like not in page, (name, python_like)
    usage = next(line for line in lines if "Usage:" in line)
    assert not re.search(r"\{[^}]*\.\.\.\}", usage), usage
    for param in COMMANDS[name].params:
        assert len(" ".join((param.help or "").split())) <= MOST_HELP, (name, param.opts)


def test_a_switch_shows_no_type_and_choices_show_their_values() -> None:
    page = zoo_here("train", "--help", columns=80).stdout
    assert "--scheduler [none|cosine|linear|onecycle]" in page
    assert "--drop-last / --keep-last " in page
    assert re.search(r"--tensorboard / --no-tensorboard\s", page)
    assert re.search(r"--help, -h\s+Show this message", page)
    predict = zoo_here("predict", "--help", columns=80).stdout
    usage = "zoo predict [OPTIONS] {MODEL.onnx|EXPORT_DIR|MODEL|RUN_DIR|CHECKPOINT|hf://OWNER/REPO} {IMAGE}..."
    assert usage in " ".join(predict.split())
    eval_page = zoo_here("eval", "--help", columns=80).stdout
    assert "[RUN_DIR|CHECKPOINT|MODEL|hf://OWNER/REPO]" in eval_page


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("zoo train --scheduler o", ["onecycle"]),
        ("zoo eval --tta f", ["flip", "flip-translate"]),
        ("zoo bench --device c", ["cpu", "cuda"]),
    ],
)
def test_choices_complete_in_the_shell(words: str, expected: list[str]) -> None:
    env = {
        **os.environ,
        "_ZOO_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    zoo = Path(sys.executable).with_name("zoo")
    result = subprocess.run([str(zoo)], capture_output=True, text=True, env=env, timeout=120)
    assert result.stdout.split() == expected, result.stderr


def test_publish_describes_only_options_it_takes() -> None:
    page = zoo_here("publish", "--help", columns=200).stdout
    assert "--calibration" not in page and "--max-accuracy-drop" not in page
    result = zoo_here("publish", "run", "--int8", "--calibration", "64")
    assert result.returncode == 2 and "No such option: --calibration" in result.stderr


def test_the_readme_tour_fits_80_columns() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    tour = readme.split("## A short tour", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = tour.splitlines()
    assert len(lines) > 30 and max(map(len, lines)) <= 80
