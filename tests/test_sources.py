"""One resolver (zoo.sources): whatever way a user names a set of weights, they are the same
weights with the same card, so they give the same figure, with the test-time augmentation the
card records; files written before cards recorded it are still read."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from train_support import TINY_DATA, ok, run_dir, tiny_net, zoo_cli

import zoo
from zoo.artifacts.checkpoint import read_card, read_weights, save_weights
from zoo.errors import ZooError
from zoo.files import sha256_file
from zoo.sources import (
    DeclaredWeights,
    ExportDirectory,
    ExportFile,
    FreshModel,
    HubRelease,
    OnnxFile,
    RunDirectory,
    SourceRequest,
    WeightsFile,
    resolve,
)
from zoo.weights.home import cache_file, home

pytestmark = pytest.mark.usefixtures("tiny_entries")

# tiny-net with a recipe that names its test-time augmentation, as cifar10-fast's does
RECIPE = {"batch_size": 16, "epochs": 2, "lr": 3e-3, "tta": "flip"}
FIGURE = re.compile(r"test-time augmentation flip: 16 items, loss ([0-9.]+), accuracy ([0-9.]+) %")


def register(weights: list[dict] | None = None) -> None:
    """tta-net, its recipe, and the weights it declares (none at first)."""
    info = {"default_dataset": "synthetic", "recipe": RECIPE}
    if weights:
        zoo.reload_registry()
        import train_support

        train_support.register()
        info["weights"] = weights
    zoo.register_model("tta-net", **info)(tiny_net)


def evaluated(*args: str) -> dict:
    return json.loads(ok("eval", *args, "--device", "cpu", "--json"))


def test_the_same_weights_give_the_same_figure_however_they_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # declared weights' results go to ./eval
    register()
    printed = ok("train", "tta-net", *TINY_DATA, "--device", "cpu", "--out", tmp_path / "runs")
    figure = FIGURE.search(printed)
    assert figure is not None, printed  # training ends with the recipe's TTA figure
    run = run_dir(tmp_path / "runs")
    checkpoint = run / "checkpoints" / "last.safetensors"
    assert read_card(checkpoint).evaluation_tta == "flip"  # the card records it

    ok("publish", run, "--name", "v1", "--out", tmp_path / "release")  # measured with flip too
    release = tmp_path / "release"
    ((model, (declared,)),) = json.loads((release / "weights.json").read_text()).items()
    assert model == "tta-net"
    hub = home() / "hub" / "tester--tta-net" / "main"  # the release, as the Hub would give it
    shutil.copytree(release, hub)
    cached = cache_file(model, zoo.meta.coerce(zoo.Weights, declared))
    cached.parent.mkdir(parents=True)
    shutil.copyfile(release / declared["file"], cached)
    register([{"name": "v1", "sha256": sha256_file(checkpoint), "url": checkpoint.as_uri()}])

    names = [
        (str(run),),
        (str(checkpoint),),
        ("tta-net", "--weights", "v1"),
        ("hf://tester/tta-net",),
    ]
    results = [evaluated(*name) for name in names]
    assert [r["tta"] for r in results] == ["flip"] * 4
    assert {r["weights_sha256"] for r in results} == {sha256_file(checkpoint)}
    assert {(r["accuracy"], r["loss"]) for r in results} == {
        (results[0]["accuracy"], results[0]["loss"])
    }
    assert f"{100 * results[0]['accuracy']:.2f}" == figure[2]
    assert f"{results[0]['loss']:.4f}" == figure[1]
    readme = (release / "README.md").read_text()  # what publish measured, with the card's TTA
    assert f"| accuracy | {100 * results[0]['accuracy']:.2f} % |" in readme

    # --tta overrides the card: the result says so, and which the card records
    plain = zoo_cli("eval", run, "--tta", "none", "--device", "cpu")
    assert plain.exit_code == 0, plain.output
    assert "no test-time augmentation (--tta; the weights' card records flip)" in plain.output


def test_files_written_before_cards_recorded_their_tta_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # declared weights' results go to ./eval
    register()
    ok("train", "tta-net", *TINY_DATA, "--device", "cpu", "--epochs", "1", "--out", tmp_path)
    run = run_dir(tmp_path)
    checkpoint = run / "checkpoints" / "last.safetensors"
    card = read_card(checkpoint)
    save_weights(checkpoint, read_weights(checkpoint), card.with_(evaluation_tta=""))  # an old card
    assert read_card(checkpoint).evaluation_tta == ""
    assert RunDirectory(run).tta == "flip"  # its config.json's --tta
    assert WeightsFile(checkpoint).tta == "flip"
    old = tmp_path / "old.safetensors"  # out of its run, an old card says nothing: none
    shutil.copyfile(checkpoint, old)
    assert WeightsFile(old).tta == "none"
    # an old declaration named the TTA itself (weights.json's "tta"); the card has none
    register([{"name": "old", "sha256": sha256_file(old), "url": old.as_uri(), "tta": "flip"}])
    assert evaluated("tta-net", "--weights", "old")["tta"] == "flip"


def test_each_name_is_one_typed_value(tmp_path: Path) -> None:
    (tmp_path / "x.onnx").write_bytes(b"")
    (tmp_path / "w.safetensors").write_bytes(b"")
    assert isinstance(resolve("tiny-net"), DeclaredWeights)
    assert resolve("tiny-net", "v2") == DeclaredWeights("tiny-net", "v2")
    assert resolve("tiny-net", str(tmp_path / "w.safetensors")) == WeightsFile(
        tmp_path / "w.safetensors", "tiny-net"
    )
    assert resolve(str(tmp_path / "x.onnx")) == OnnxFile(tmp_path / "x.onnx")
    assert resolve(str(tmp_path / "w.safetensors")) == WeightsFile(tmp_path / "w.safetensors")
    assert resolve("hf://someone/net") == HubRelease("hf://someone/net")
    assert isinstance(SourceRequest(spec="tiny-net").resolve(), FreshModel)
    (tmp_path / "run").mkdir()
    assert resolve(str(tmp_path / "run")) == RunDirectory(tmp_path / "run")
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "manifest.json").write_text("{}")
    assert resolve(str(tmp_path / "export")) == ExportDirectory(tmp_path / "export")
    for name in ("m.onnx", "m.xml", "w.safetensors"):  # the weights copy is a weights file
        (tmp_path / "export" / name).write_bytes(b"")
    assert resolve(str(tmp_path / "export" / "m.onnx")) == ExportFile(
        tmp_path / "export" / "m.onnx"
    )
    assert resolve(str(tmp_path / "export" / "m.xml")) == ExportFile(tmp_path / "export" / "m.xml")
    copy = tmp_path / "export" / "w.safetensors"
    assert resolve(str(copy)) == WeightsFile(copy)


@pytest.mark.parametrize(
    ("spec", "weights", "message"),
    [
        ("hf://someone/net", "v2", "hf://someone/net publishes one set of weights"),
        ("hf://someone", None, "is not a Hub model"),
        ("runs/x", "v1", "--weights goes with a model name"),
        (None, None, "name a run directory, a checkpoint, an export or a model"),
        (None, "v1", "names weights a model declares: name the model too"),
        ("runs/nope", None, "no such run directory or checkpoint: 'runs/nope'"),
        ("gone.onnx", None, "no ONNX file 'gone.onnx'"),
    ],
)
def test_what_cannot_be_resolved_is_one_line(spec, weights, message) -> None:
    from zoo.sources import WITH_WEIGHTS

    with pytest.raises(ZooError, match=re.escape(message)):
        resolve(spec, weights, accept=WITH_WEIGHTS, command="zoo eval")


def test_a_command_says_what_it_takes(tmp_path: Path) -> None:
    (tmp_path / "x.onnx").write_bytes(b"")
    result = zoo_cli("eval", tmp_path / "x.onnx")
    assert (
        "zoo eval takes a run directory, a weights file, declared weights or a Hub release, not "
        "an ONNX file" in str(result.exception)
    )
