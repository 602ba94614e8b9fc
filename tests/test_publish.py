"""``zoo publish`` of a tiny run trained with the real trainer: the release folder, its
declaration, the metrics measured again, the model card read back by huggingface_hub, and every
refusal as one line before any work."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import zoo_here
from publish_support import declaration, release_files, train_tiny_run
from train_support import ok

import zoo
from zoo.artifacts.checkpoint import read_card, save_weights
from zoo.export.parity import wilson
from zoo.files import sha256_file
from zoo.meta import ModelInfo, coerce, weights_index
from zoo.sources import resolve
from zoo.train.eval_request import EvalRequest
from zoo.train.evaluation import evaluate_weights


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ZOO_HOME for the module (downloads and predict exports go there, not to ~/.cache)."""
    folder = tmp_path_factory.mktemp("zoo-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_HOME", str(folder))
        yield folder


@pytest.fixture(scope="module")
def run(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def release(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("releases") / "mnist-mlp-digits-v1"
    printed = ok("publish", run, "--name", "digits-v1", "--out", out, "--license", "mit", "--int8")
    assert "accuracy" in printed and "95 % CI" in printed and str(out) in printed
    return out


def test_the_release_holds_what_was_promised(run: Path, release: Path) -> None:
    kept = run / "checkpoints" / "best.safetensors"  # the recipe holds items out: best epoch
    sha256 = sha256_file(kept)
    weights = f"mnist-mlp-digits-v1-{sha256[:8]}.safetensors"
    assert release_files(release) == {
        weights, "mnist-mlp.onnx", "mnist-mlp.int8.onnx", "manifest.json", "verification.npz",
        "weights.json",
        "README.md", "plots/loss.png", "plots/accuracy.png", "plots/confusion_matrix.png",
        "plots/confusion_matrix-test.png",
    }  # fmt: skip
    assert sha256_file(release / weights) == sha256  # the run's file, unchanged, card inside
    assert read_card(release / weights).model == "mnist-mlp"
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["export"]["weights_file"] == weights
    assert manifest["card"]["weights_sha256"] == sha256
    certificate = manifest["files"][0]["certificate"]
    assert certificate["weights_sha256"] == sha256 and certificate["parity"]["passed"]
    # the release is a complete export directory: zoo verify runs every check again
    assert "verified" in ok("verify", release)


def test_the_declaration_is_what_weights_index_reads(
    release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "published_pkg"
    (package / "weights").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "weights" / "weights.json").write_text((release / "weights.json").read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    (weights,) = coerce(ModelInfo, {"weights": weights_index("published_pkg", "mnist-mlp")}).weights
    card = read_card(release / weights.file)
    assert weights.name == "digits-v1" and weights.sha256 == sha256_file(release / weights.file)
    assert not weights.stated  # one description per fact: the rest is the card's, in the file
    assert (card.dataset, card.input_shape, card.zoo_version) == (
        "digits",
        (1, 8, 8),
        zoo.__version__,
    )
    assert "1,198 items of the train split of digits" in weights.note
    command = next(line for line in (release / "README.md").read_text().splitlines()
                   if line.startswith("zoo train "))  # fmt: skip
    assert command.startswith("zoo train mnist-mlp --dataset digits --optimizer sgd")
    assert "--epochs 3" in command and "--seed 0" in command


def test_metrics_are_measured_again_with_the_published_file(release: Path, tmp_path) -> None:
    _, declared = declaration(release)
    summary = evaluate_weights(
        resolve(str(release / declared["file"])), EvalRequest(out=str(tmp_path))
    ).summary
    assert summary.metric == "accuracy" and summary.weights_sha256 == declared["sha256"]
    low, high = wilson(summary.value, summary.items)
    card = (release / "README.md").read_text()
    assert f"| accuracy | {100 * summary.value:.2f} % |" in card
    assert f"{100 * low:.2f}–{100 * high:.2f} % (Wilson) | 359 |" in card


def test_a_card_that_claims_more_than_the_file_scores_is_not_published(
    run: Path, tmp_path: Path
) -> None:
    """A bare checkpoint whose card says 99.9 % on the test split: the card is what users read
    of the weights, so publish refuses it in one line, naming both figures, and writes nothing."""
    from safetensors.torch import load_file

    kept = run / "checkpoints" / "best.safetensors"
    boast = read_card(kept).with_(metrics={"val_accuracy": 0.999, "test_accuracy": 0.999})
    bare = save_weights(tmp_path / "bare.safetensors", load_file(str(kept)), boast)
    out = tmp_path / "release"
    result = zoo_here("publish", str(bare), "--name", "claimed", "--out", str(out))
    measured = evaluate_weights(
        resolve(str(kept)), EvalRequest(out=str(tmp_path / "eval"))
    ).summary.value
    said = result.stderr.strip().splitlines()
    assert result.returncode == 2 and said[-1].startswith("error: "), result.stderr
    assert "states accuracy 99.90 % on the test split" in said[-1]
    assert f"zoo measured {100 * measured:.2f} %" in said[-1] and measured < 0.99
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "bare.json", "bare.safetensors", "eval",
    ]  # fmt: skip


def test_the_model_card_reads_back_through_huggingface_hub(release: Path, tmp_path: Path) -> None:
    hub = pytest.importorskip("huggingface_hub")
    from huggingface_hub.repocard_data import model_index_to_eval_results

    _, declared = declaration(release)
    measured = evaluate_weights(
        resolve(str(release / declared["file"])), EvalRequest(out=str(tmp_path))
    ).summary.value
    card = hub.ModelCard.load(release / "README.md")
    assert card.data.license == "mit" and card.data.library_name == "torch-zoo"
    assert card.data.datasets == ["digits"] and "image-classification" in card.data.tags
    name, results = model_index_to_eval_results(card.data.to_dict()["model-index"])
    assert name == "mnist-mlp-digits-v1"
    (result,) = results
    assert (result.task_type, result.dataset_type, result.dataset_split) == (
        "image-classification", "digits", "test",
    )  # fmt: skip
    assert result.metric_type == "accuracy"
    assert result.metric_value == pytest.approx(measured, abs=1e-6)
    assert card.data.eval_results[0].metric_value == result.metric_value
    text = card.text
    for section in ("## Metrics", "## Training", "## Preprocessing", "## How to use it",
                    "## Parity certificate", "## Versions", "## Limitations"):  # fmt: skip
        assert section in text, section
    assert text.count("\n| 9 | ") == 1  # the per-class table, one row per class
    assert "zoo train mnist-mlp --dataset digits" in text and declared["sha256"] in text
    assert "a small training set" in text and "interval is" in text
    assert "The int8 file `mnist-mlp.int8.onnx` differs from the float32 one by" in text
    assert "| `mnist-mlp.int8.onnx` | int8 |" in text  # its certificate's row
    for image in ("plots/loss.png", "plots/accuracy.png", "plots/confusion_matrix-test.png"):
        assert f"]({image})" in text and (release / image).is_file()


def test_publishing_again_replaces_the_release_whole(run: Path, release: Path) -> None:
    (release / "stray.txt").write_text("left from before")
    ok("publish", run, "--name", "digits-v1", "--out", release, "--license", "mit", "--int8")
    assert not (release / "stray.txt").exists() and (release / "weights.json").is_file()


def run_main(args: list[str], capsys, monkeypatch) -> tuple[int, str]:
    from zoo.cli.app import main

    monkeypatch.setattr(sys, "argv", ["zoo", *map(str, args)])
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0), capsys.readouterr().err


def test_bad_input_is_one_line_before_any_work(run: Path, tmp_path: Path, capsys, monkeypatch):
    unfinished = tmp_path / "unfinished"
    (unfinished / "checkpoints").mkdir(parents=True)
    (unfinished / "config.json").write_text((run / "config.json").read_text())
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    out = tmp_path / "never-written"
    cases = [
        ([unfinished, "--name", "v1"], "has no kept weights"),
        ([run, "--name", "Bad_Name"], "not a valid weights name"),
        ([run, "--name", "default"], "not a valid weights name"),
        ([run], "--name NAME is required"),
        ([run, "--name", "mnist-5k"], "already declared by mnist-mlp (torch-zoo"),
        ([run, "--name", "v1", "--to", "ftp://example.org/models"], "--to takes hf://"),
        ([run, "--name", "v1", "--to", "hf://only-owner"], "not a Hub model"),
        ([run, "--name", "v1", "--base-url", "https://x.org"], "--base-url goes with --to"),
        ([run, "--name", "v1", "--plugin", tmp_path], "is not a plugin project"),
        ([run, "--name", "v1", "--out", taken], "holds something other than a release"),
        ([run, "--name", "v1", "--split", "dev"], "--split must be one of"),
        ([tmp_path / "missing", "--name", "v1"], "no such run directory or checkpoint"),
    ]
    for args, message in cases:
        code, err = run_main(["publish", *args, *(["--out", out] if "--out" not in args else [])],
                             capsys, monkeypatch)  # fmt: skip
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (args, err)
        assert message in lines[0], (message, lines[0])
        assert not out.exists()


def test_hub_addresses_and_publish_targets(tmp_path: Path, monkeypatch) -> None:
    from zoo.errors import ArgumentError
    from zoo.publish.targets import deliver, parse_target
    from zoo.weights.releases import parse

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    repo = parse("hf://someone/tiny-net@refs/pr/1")
    assert (repo.repo_id, repo.revision, repo.spec) == (
        "someone/tiny-net", "refs/pr/1", "hf://someone/tiny-net@refs/pr/1",
    )  # fmt: skip
    assert repo.folder == tmp_path / "home" / "hub" / "someone--tiny-net" / "refs%2Fpr%2F1"
    assert repo.address("w.safetensors", "abc") == "hf://someone/tiny-net/w.safetensors@abc"
    for bad in ("hf://someone", "hf://a/b/c", "hf://a/b@x@y", "hf:///b"):
        with pytest.raises(ArgumentError, match="is not a Hub model"):
            parse(bad)
    release = tmp_path / "net-v1"
    release.mkdir()
    (release / "net-v1-0123abcd.safetensors").write_bytes(b"weights")
    served = tmp_path / "www"
    target = parse_target(served.as_uri(), None)  # a file:// URL names a folder
    assert target is not None and target.folder == served
    delivered = deliver(target, release, "net-v1-0123abcd.safetensors", "message")
    assert delivered.url == (served / "net-v1" / "net-v1-0123abcd.safetensors").as_uri()
    assert (served / "net-v1" / "net-v1-0123abcd.safetensors").read_bytes() == b"weights"
    web = parse_target(str(served), "https://example.org/models/")
    url = deliver(web, release, "net-v1-0123abcd.safetensors", "message").url
    assert url == "https://example.org/models/net-v1/net-v1-0123abcd.safetensors"
