"""A new plugin author's path, for real: ``zoo new-plugin``, train, ``zoo publish --plugin`` (the
file in the package) and ``--to`` a folder a static web server serves (the URL), build the
plugin into a wheel, install it into a fresh environment, and use the published weights there."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from conftest import pip_install_target
from publish_support import (
    build_wheel,
    declaration,
    fresh_environment,
    pip_install,
    serving,
    zoo_in,
)
from train_support import ok

import zoo
from zoo.scaffold import new_plugin

MODEL = "pubtest-net"
TRAIN = ["-d", "digits", "--epochs", "2", "--model-arg", "width=4", "--device", "cpu"]


@pytest.fixture
def author(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A scaffolded plugin project, installed (as pip installs it) where this process sees it."""
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "author-home"))
    project = new_plugin(MODEL, tmp_path)
    site = pip_install_target([project], tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    zoo.reload_registry()
    yield project
    zoo.reload_registry()


def test_publish_into_a_plugin_then_install_its_wheel_and_use_the_weights(
    author: Path, tmp_path: Path
) -> None:
    ok("train", MODEL, *TRAIN, "--out", tmp_path / "runs")
    (run,) = (tmp_path / "runs").iterdir()
    printed = ok(
        "publish", run, "--name", "digits-v1", "--plugin", author, "--out", tmp_path / "r1"
    )
    assert "note:" not in printed  # the scaffold ships weights/ and reads weights.json already
    package = author / "src" / "zoo_pubtest_net"
    _, released = declaration(tmp_path / "r1")
    with serving(tmp_path / "www") as server:
        ok("publish", run, "--name", "digits-web", "--plugin", author, "--out", tmp_path / "r2",
           "--to", tmp_path / "www", "--base-url", server.url)  # fmt: skip
        index = json.loads((package / "weights" / "weights.json").read_text())[MODEL]
        assert [entry["name"] for entry in index] == ["digits-v1", "digits-web"]
        assert index[0]["file"] == f"weights/{released['file']}" and "url" not in index[0]
        url = f"{server.url}/r2/{released['file'].replace('digits-v1', 'digits-web')}"
        assert index[1]["url"] == url and "file" not in index[1]
        wheel = build_wheel(author, tmp_path / "dist")
        shipped = set(zipfile.ZipFile(wheel).namelist())
        assert {f"zoo_pubtest_net/{index[0]['file']}", "zoo_pubtest_net/weights/weights.json"} <= (
            shipped
        )
        python = fresh_environment(tmp_path / "fresh")
        pip_install(python, wheel)
        env = {"ZOO_HOME": str(tmp_path / "user-home")}
        fetched = zoo_in(python, "weights", "fetch", MODEL, cwd=tmp_path, **env)
        assert fetched.returncode == 0, fetched.stderr
        assert "digits-v1" in fetched.stdout and "inside its package" in fetched.stdout
        assert server.requests == [f"/r2/{Path(url).name}"]  # digits-web, downloaded once
    # the server is gone: both weights are here; eval reproduces the card's metric
    evaluated = zoo_in(
        python, "eval", MODEL, "--weights", "digits-v1", "--json", cwd=tmp_path, **env
    )
    assert evaluated.returncode == 0, evaluated.stderr
    summary = json.loads(evaluated.stdout)
    assert str(tmp_path / "fresh") in summary["checkpoint"]  # the file the wheel installed
    card = (tmp_path / "r1" / "README.md").read_text()  # the release's figure: its card's
    assert f"value: {round(summary['accuracy'], 6)}" in card
