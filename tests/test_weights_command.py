"""``zoo weights fetch|list|prune`` against a real HTTP server on 127.0.0.1, and what a plugin
author hit: a weights declaration every command refuses is reported as the entry's metadata by
``zoo plugins`` and ``zoo check``, a missing sha256 says it is required, and ``zoo info`` says
when a recipe is zoo's default rather than the plugin's."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest
import torch
from publish_support import serving
from rich.console import Console
from train_support import ok, zoo_cli

import zoo
from zoo.artifacts.card import ModelCard, Preprocessing
from zoo.artifacts.checkpoint import save_weights
from zoo.errors import ZooError
from zoo.files import sha256_file
from zoo.meta import Weights
from zoo.weights import cache
from zoo.weights.home import predict_folder


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    for variable in ("no_proxy", "NO_PROXY"):  # the local server is never behind a proxy
        monkeypatch.setenv(variable, "127.0.0.1,localhost")
    yield tmp_path / "home"
    zoo.reload_registry()


def wide_net(num_classes: int = 3, input_shape: tuple[int, ...] = (3, 2, 2)) -> torch.nn.Module:
    """Twelve inputs, a wide hidden layer (a weights file of about 1.3 MB), three classes."""
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(12, 25_000), torch.nn.Linear(25_000, num_classes)
    )


def served_weights(folder: Path) -> Path:
    torch.manual_seed(0)
    card = ModelCard("wide-net", Preprocessing((3, 2, 2)), classes=("a", "b", "c"))
    return save_weights(folder / "wide-net.safetensors", wide_net().state_dict(), card)


def register(url: str, sha256: str) -> None:
    declared = {"name": "v1", "url": url, "sha256": sha256, "classes": ["a", "b", "c"]}
    zoo.register_model("wide-net", weights=[declared])(wide_net)


def test_fetch_downloads_once_reporting_progress_then_list_and_prune(tmp_path: Path, home: Path):
    served = served_weights(tmp_path / "www")
    with serving(tmp_path / "www") as server:
        register(f"{server.url}/wide-net.safetensors", sha256_file(served))
        heard: list[tuple[int, int]] = []

        def progress_for(label: str):  # the engine asks for a callback per download
            assert label == "wide-net weights 'v1'"
            return lambda done, total: heard.append((done, total))

        (fetched,) = cache.fetch_all("wide-net", None, progress_for)
        assert (
            fetched.path == home / "weights" / f"wide-net-v1-{sha256_file(served)[:12]}.safetensors"
        )
        size = served.stat().st_size
        assert heard[0] == (0, size) and heard[-1] == (size, size) and len(heard) > 3
        assert [d for d, _ in heard] == sorted(d for d, _ in heard)
        again = ok("weights", "fetch", "wide-net", "--name", "v1")  # cached: no request
        assert "ok wide-net weights 'v1'" in again and server.requests == ["/wide-net.safetensors"]
    assert sha256_file(fetched.path) == sha256_file(served)
    # stale entries beside the used ones
    stale_file = home / "weights" / "gone-net-v0-0123456789ab.safetensors"
    stale_file.write_bytes(b"an old download")
    used_export = predict_folder("mnist-mlp3", "default")  # what zoo predict mnist-mlp3 uses now
    old_export = used_export.with_name("mnist-mlp3-default-0000000000000000")  # an older plugin
    for folder in (used_export, old_export):
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text("{}")
    unfinished = home / "weights" / ".wide-net.safetensors.abc.tmp"
    unfinished.write_bytes(b"cut short")
    os.utime(unfinished, (time.time() - 3600, time.time() - 3600))
    listed = {Path(row["path"]).name: row for row in json.loads(ok("weights", "list", "--json"))}
    assert listed[fetched.path.name]["used_by"] == "wide-net weights 'v1'"
    assert listed[fetched.path.name]["bytes"] == fetched.path.stat().st_size
    assert listed[used_export.name]["used_by"] == "zoo predict mnist-mlp3 --weights default"
    assert {listed[p.name]["used_by"] for p in (stale_file, old_export, unfinished)} == {""}
    assert "nothing: prune removes it" in ok("weights", "list")
    dry = ok("weights", "prune", "--dry-run")
    assert "would remove 3 entries" in dry and stale_file.exists()
    assert "removed 3 entries" in ok("weights", "prune")
    assert not stale_file.exists() and not old_export.exists() and not unfinished.exists()
    assert fetched.path.exists() and used_export.exists()


def test_a_bad_download_is_one_line_and_a_large_one_draws_a_bar(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = served_weights(tmp_path / "www")
    terminal = io.StringIO()
    monkeypatch.setattr(
        "zoo.cli.output.error_console", Console(file=terminal, force_terminal=True, width=100)
    )
    with serving(tmp_path / "www") as server:
        register(f"{server.url}/wide-net.safetensors", "0" * 64)
        result = zoo_cli("weights", "fetch", "wide-net")
        assert result.exit_code != 0 and isinstance(result.exception, ZooError)
        message = str(result.exception)
        assert "does not have the declared sha256" in message and "\n" not in message
        assert not list((home / "weights").glob("*.safetensors"))  # nothing half-kept
        register(f"{server.url}/wide-net.safetensors", sha256_file(served))
        ok("weights", "fetch", "wide-net")
        everything = cache.fetch_all(None, None, lambda label: None)  # every installed model's
    assert "wide-net weights 'v1'" in terminal.getvalue() and "MB" in terminal.getvalue()
    labels = {result.label: result for result in everything}
    assert labels["wide-net weights 'v1'"].path is not None
    assert labels["mnist-mlp weights 'mnist-5k'"].note == "inside its package"
    assert all("is broken" in result.error for result in everything if result.error)
    assert zoo_cli("weights", "fetch", "--name", "v1").exit_code != 0  # --name needs a model


def plugin_model(num_classes: int = 2) -> torch.nn.Module:
    """A plugin's model whose metadata is set per test."""
    return torch.nn.Linear(4, num_classes)


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (
            {"name": "v1", "url": "ftp://example.org/w.safetensors", "sha256": "0" * 64},
            "url 'ftp://",
        ),
        ({"name": "v1", "url": "https://example.org/w.safetensors"}, "sha256 is required"),
        (
            {"name": "V 1", "url": "https://example.org/w.safetensors", "sha256": "0" * 64},
            "name 'V 1'",
        ),
    ],
)
def test_a_refused_declaration_fails_the_entrys_metadata(declared, message) -> None:
    plugin_model.zoo_info = {"weights": [declared]}
    zoo.register_model("declared-net")(plugin_model)
    rows = {row["name"]: row for row in json.loads(ok("plugins", "--json"))}
    row = rows["declared-net"]
    assert row["status"] == "failed" and row["failed_at"] == "metadata"
    assert message in row["error"] and row["error"].startswith("invalid zoo_info: weights")
    assert "failed (metadata)" in ok("plugins")
    report = zoo_cli("check", "declared-net", "--input-shape", "4", "--num-classes", "2",
                     "--no-export", "--json")  # fmt: skip
    checks = {c["title"]: c for c in json.loads(report.stdout)[0]["checks"]}
    metadata = checks["metadata (zoo_info and weights declarations) is valid"]
    assert metadata["passed"] is False and message in metadata["detail"]
    assert checks["model builds"]["passed"] is None  # skipped, not blamed
    assert zoo.create_model("declared-net").out_features == 2  # the model itself is fine


def test_weights_objects_are_checked_when_declared() -> None:
    bad = Weights(name="v1", sha256="0" * 64, url="ftp://example.org/w.safetensors")
    with pytest.raises(TypeError, match="invalid url 'ftp://"):
        zoo.model_info(weights=[bad])


def test_info_says_when_the_recipe_is_zoos_default() -> None:
    plugin_model.zoo_info = {"description": "no recipe"}
    zoo.register_model("plain-net")(plugin_model)
    assert "recipe (none declared by the plugin: zoo's defaults): optimizer adam" in ok(
        "info", "plain-net", "--input-shape", "4"
    )
    assert (
        json.loads(ok("info", "plain-net", "--input-shape", "4", "--json"))["recipe_declared"]
        is False
    )
    declared = ok("info", "mnist-mlp3")
    assert "  recipe: optimizer sgd" in declared and "zoo's defaults" not in declared
