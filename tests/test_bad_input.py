"""Every command answers wrong input with one line on stderr and exit status 2, before any work,
never a traceback and never a hang: options walked systematically, then files and values by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from safetensors.torch import save_file

import zoo
from zoo.cli import app
from zoo.cli.app import main

COMMANDS = {name: app.load(name) for name in app.COMMANDS}  # every command, loaded


def run(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch) -> tuple[int, str, str]:
    """``zoo ARGS`` through the console-script entry point, in this process."""
    monkeypatch.setattr(sys, "argv", ["zoo", *args])
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def one_line_error(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def numeric_options() -> list[tuple[str, str]]:
    """(command, option) for every option of every command that takes a number."""
    found = []
    for name, command in sorted(COMMANDS.items()):
        for param in command.params:
            kind = param.type_descriptor.annotation  # the option's value type, as Typer reads it
            if param.param_type_name == "option" and kind in (int, float) and not param.is_flag:
                found.append((name, param.opts[0]))
    return found


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unknown_option_is_one_line_with_a_hint(command, capsys, monkeypatch):
    code, _, err = run([command, "--no-such-option"], capsys, monkeypatch)
    line = one_line_error(code, err)
    assert "--no-such-option" in line and f"zoo {command} --help" in line


@pytest.mark.parametrize(("command", "option"), numeric_options())
def test_a_number_option_given_text_is_one_line(command, option, capsys, monkeypatch):
    code, _, err = run([command, "x", option, "many"], capsys, monkeypatch)
    assert option in one_line_error(code, err)


def test_numeric_options_were_found():
    found = dict(numeric_options())
    assert {"train", "bench", "export", "eval"} <= set(found)


@pytest.mark.parametrize("command", ["info", "data", "check", "new-plugin"])
def test_a_missing_argument_is_one_line(command, capsys, monkeypatch):
    code, _, err = run([command], capsys, monkeypatch)
    assert "Missing argument" in one_line_error(code, err)


def bad_files(tmp_path: Path) -> dict[str, Path]:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    foreign = tmp_path / "foreign.safetensors"
    import torch

    save_file({"w": torch.zeros(2)}, str(foreign))
    onnx = tmp_path / "junk.onnx"
    onnx.write_bytes(b"not onnx")
    toml = tmp_path / "bad.toml"
    toml.write_text('epochs = "many"\n')
    typo = tmp_path / "typo.toml"
    typo.write_text("lr = 0.1\nepohcs = 3\n")
    broken = tmp_path / "broken.toml"
    broken.write_text("lr = \n")
    table = tmp_path / "table.toml"
    table.write_text("model_args = 3\n")
    image = tmp_path / "junk.png"
    image.write_bytes(b"not an image")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{not json")
    return {
        "junk": junk,
        "foreign": foreign,
        "onnx": onnx,
        "toml": toml,
        "typo": typo,
        "broken": broken,
        "table": table,
        "run": run_dir,
        "image": image,
    }


CASES = [
    (["list", "gadgets", "*"], "unknown kind 'gadgets'"),
    (["list", "cifar10-cnm"], "did you mean 'cifar10-cnn'"),
    (["list", "models", "adam"], "unknown model 'adam'"),
    (["info", "nosuchthing"], "unknown name 'nosuchthing'"),
    (["info", "sgd", "--kind", "widget"], "unknown kind 'widget'"),
    (["info", "cifar10-cnn", "--input-shape", "3,x,2"], "not a list of positive integers"),
    (["info", "cifar10-cnn", "--model-arg", "width"], "not of the form name=value"),
    (["train", "nosuch-model"], "unknown model 'nosuch-model'"),
    (["train", "mnist-mlp3", "-d", "mnist-5k", "-o", "adamm"], "did you mean 'adam'"),
    (["train", "mnist-mlp3", "-d", "mnist-5k", "--opt-arg", "lr=0.5"], "use --lr"),
    (["train", "mnist-mlp3", "-d", "mnist-5k", "--opt-arg", "momentun=0.9"], "momentum"),
    (["train", "mnist-mlp3", "-d", "mnist-5k", "-m", "num_classes=3"], "cannot be set by hand"),
    (["train", "mnist-mlp3", "-d", "mnist-5k", "--lr", "-1"], "--lr must be > 0"),
    (["train", "mnist-mlp3", "-d", "mnist-5k", "--val-split", "lots"], "fraction or a count"),
    (["train", "mnist-mlp3", "-d", "mnist-5k", "--scheduler", "step"], "--scheduler must be"),
    (
        ["train", "mnist-mlp3", "-d", "mnist-5k", "--config", "{toml}"],
        "'epochs' must be an integer",
    ),
    (["train", "mnist-mlp3", "--config", "{typo}"], "unknown key(s) epohcs"),
    (["train", "mnist-mlp3", "--config", "{broken}"], "not valid TOML"),
    (["train", "mnist-mlp3", "--config", "{table}"], "'model_args' must be a table"),
    (["train", "mnist-mlp3", "--config", "/nonexistent.toml"], "cannot read config file"),
    (["train", "--resume", "{run}"], "is damaged"),
    (["train", "--resume", "/nonexistent"], "run directory '/nonexistent' does not exist"),
    (["eval", "{junk}"], "corrupt or truncated"),
    (["eval", "{foreign}"], "not a zoo checkpoint"),
    (["eval", "/nonexistent/run"], "no such run directory or checkpoint"),
    (["eval", "--runs", "/nonexistent"], "no runs folder"),
    (["runs", "/nonexistent"], "no runs folder"),
    (["export", "{junk}", "--onnx"], "corrupt or truncated"),
    (["export", "nosuch-model", "--onnx"], "unknown model 'nosuch-model'"),
    (["export", "mnist-mlp3", "--batch", "0"], "--batch must be 'dynamic' or a positive"),
    (["predict", "{onnx}", "x.png"], "ONNX Runtime cannot load"),
    (["predict", "/nonexistent.onnx", "x.png"], "no ONNX file"),
    (["bench", "mnist-mlp3", "--backends", "tensorflow"], "--backends takes"),
    (["bench", "mnist-mlp3", "--weights", "nosuch"], "has no weights 'nosuch'"),
    (["eval", "mnist-mlp3", "--weights", "nosuch"], "it declares mnist-5k"),
    (["eval", "cifar10-vgg", "--weights", "default"], "has no trained weights: its 5.9 million"),
    (["eval", "mnist-mlp3", "--weights", "{foreign}"], "not a zoo checkpoint"),
    (["train", "mnist-mlp3", "-d", "mnist-5k", "--weights", "nosuch"], "has no weights"),
    (["export", "mnist-mlp3", "--weights", "/no/w.safetensors"], "no weights file"),
    (["predict", "nosuch-model", "x.png"], "unknown model 'nosuch-model'"),
    (["predict", "mnist-mlp3", "/nonexistent.png"], "no image file '/nonexistent.png'"),
    (["predict", "mnist-mlp3", "{image}"], "cannot read image"),
    (["predict", "mnist-mlp3", "--weights", "nosuch", "x.png"], "has no weights 'nosuch'"),
    (["predict", "{onnx}", "--weights", "default", "x.png"], "goes with a model name"),
    (["sweep", "mnist-mlp3", "-d", "mnist-5k"], "nothing to sweep"),
    (["sweep", "mnist-mlp3", "-d", "mnist-5k", "--grid", "lr="], "empty value"),
    (["sweep", "mnist-mlp3", "-d", "mnist-5k", "--grid", "nosuch=1,2"], "unknown option"),
    (["sweep", "mnist-mlp3", "-d", "mnist-5k", "--grid", "lr=a,b"], "must be a number"),
    (["sweep", "mnist-mlp3", "--grid", "opt.momentun=0,0.9"], "no parameter 'momentun'"),
    (
        ["sweep", "mnist-mlp3", "--grid", "lr=1,2", "--grid", "seed=1,2", "--max-runs", "3"],
        "4 runs",
    ),
    (["sweep", "mnist-mlp3", "--grid", "lr=1,2", "--trials", "3"], "--trials: for --search"),
    (["sweep", "mnist-mlp3", "--grid", "lr=0.1", "--jobs", "0"], "--jobs must be at least 1"),
    (["sweep", "--resume", "/nonexistent"], "not a sweep directory"),
    (["data", "nosuch-data"], "unknown dataset 'nosuch-data'"),
    (["data", "mnist-5k", "--dataset-arg", "x"], "not of the form name=value"),
    (["check", "nosuch-thing"], "unknown name 'nosuch-thing'"),
    (["new-plugin", "Bad Name"], "not a valid model name"),
    (["new-plugin", "cifar10-cnn"], "already registered"),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))  # zoo predict MODEL caches there
    files = bad_files(tmp_path)
    args = [arg.format(**files) for arg in args]
    code, _, err = run(args, capsys, monkeypatch)
    assert message in one_line_error(code, err)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "exports").exists()
    assert not (tmp_path / "home" / "predict").exists()  # no export before the inputs are checked


def test_reserved_names_are_one_table(capsys, monkeypatch):
    code, out, _ = run(["info", "adam", "--json"], capsys, monkeypatch)
    params = {p["name"]: p for p in json.loads(out)["parameters"]}
    assert "use --lr" in params["lr"]["set_by_zoo"] and params["betas"]["set_by_zoo"] is None
    assert code == 0 and zoo.list_models("cifar10-*")
