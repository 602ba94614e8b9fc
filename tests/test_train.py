"""`zoo train`, `zoo eval` and `zoo runs` in-process on tiny data: real steps, real files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import train_support
from conftest import zoo_here
from safetensors.torch import load_file
from train_support import TINY_DATA, metrics, ok, run_dir, zoo_cli

import zoo
from zoo.artifacts.card import Preprocessing
from zoo.artifacts.checkpoint import load_checkpoint, load_state
from zoo.errors import ZooError
from zoo.sources import resolve
from zoo.train.data import Augmentation, BatchPipeline, augment
from zoo.train.objective import Objective

TINY = ["tiny-net", *TINY_DATA, "--batch-size", "16", "--device", "cpu"]


pytestmark = pytest.mark.usefixtures("tiny_entries")


def test_train_writes_a_complete_run_that_eval_and_runs_read(tmp_path: Path) -> None:
    output = ok("train", *TINY, "--epochs", "2", "--out", tmp_path)
    run = run_dir(tmp_path)
    assert output.count(f"run directory: {run}") == 2  # at the start and the end
    assert "epoch 2/2" in output and "Class" in output  # summary lines, per-class table
    for name in ("config.json", "config.toml", "metrics.jsonl", "per_class.json", "per_class.csv"):
        assert (run / name).is_file(), name
    for name in ("loss", "accuracy", "confusion_matrix"):
        assert (run / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = metrics(run)
    assert [m["epoch"] for m in history] == [1, 2]
    # the recipe validates on the test split: its numbers are labelled so and pick nothing
    assert {"train_loss", "train_accuracy", "test_loss", "test_accuracy"} <= set(history[0])
    assert not any(key.startswith("val_") for key in history[0])

    checkpoints = run / "checkpoints"
    meta = json.loads((checkpoints / "last.json").read_text())
    assert meta["model"] == "tiny-net" and meta["epoch"] == 2
    assert meta["classes"] == [f"class {i}" for i in range(4)]
    assert meta["input_shape"] == [3, 8, 8] and len(meta["mean"]) == 3
    assert meta["task"] == "classification" and meta["output"] == "logits"
    assert meta["zoo_version"] and meta["torch_version"]
    assert load_state(checkpoints / "last.state.pt")["epoch"] == 2

    assert not (checkpoints / "best.safetensors").exists()  # chosen by test accuracy: never
    kept = load_checkpoint(run)  # a run directory means the weights it keeps: here the last
    assert kept.path.name == "last.safetensors" and kept.epoch == 2
    model = resolve(str(kept.path)).model()
    weights = load_file(kept.path)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())
    assert model(torch.zeros(2, 3, 8, 8)).shape == (2, 4)

    rows = json.loads((run / "per_class.json").read_text())
    assert [r["class"] for r in rows] == meta["classes"] and sum(r["total"] for r in rows) == 16
    with open(run / "per_class.csv") as file:
        assert len(list(csv.DictReader(file))) == 4

    report = json.loads(ok("eval", run, "--json"))
    assert report["accuracy"] == pytest.approx(history[-1]["test_accuracy"])
    assert report["items"] == 16 and report["epoch"] == 2
    output_dir = Path(report["output_dir"])
    assert (output_dir / "plots" / "confusion_matrix.png").is_file()
    assert not (output_dir / "plots" / "loss.png").exists()  # no copies of the training curves
    listed = json.loads(ok("runs", tmp_path, "--json"))
    assert [r["run"] for r in listed] == [run.name]
    assert listed[0]["kept_epoch"] == 2
    assert listed[0]["kept_metrics"]["test_accuracy"] == history[-1]["test_accuracy"]
    assert listed[0]["finished"] and "tiny-net" in ok("runs", tmp_path)


def test_same_seed_same_metrics_and_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    runs = {}
    for name, epochs in (("first", 3), ("again", 3), ("resumed", 1)):
        ok("train", *TINY, "--epochs", epochs, "--seed", "7", "--out", tmp_path / name)
        runs[name] = run_dir(tmp_path / name)
    output = ok("train", "--resume", runs["resumed"], "--epochs", "3")
    assert "resuming at epoch 2 of 3" in output
    assert metrics(runs["first"]) == metrics(runs["again"])
    assert metrics(runs["resumed"]) == metrics(runs["first"])
    final = [load_file(run / "checkpoints" / "last.safetensors") for run in runs.values()]
    assert all(torch.equal(final[0][k], final[2][k]) for k in final[0])
    evaluated = json.loads(ok("eval", runs["resumed"], "--json"))
    assert evaluated["accuracy"] == metrics(runs["first"])[-1]["test_accuracy"]
    with pytest.raises(ZooError, match="already finished its 3 epochs"):
        raise zoo_cli("train", "--resume", runs["resumed"]).exception


def test_print_config_resolves_recipe_file_and_flags(tmp_path: Path) -> None:
    text = ok("train", "tiny-net", "--print-config", "--lr", "0.01", "--opt-arg", "eps=1e-6")
    assert 'dataset = "synthetic"' in text  # the model's default dataset
    assert "lr = 0.01" in text and "batch_size = 64" in text  # flag, recipe default
    config = tmp_path / "run.toml"
    config.write_text(text.replace("batch_size = 64", "batch_size = 8"))
    again = ok("train", "--config", config, "--epochs", "5", "--print-config")
    assert "batch_size = 8" in again and "epochs = 5" in again and "eps = 1e-06" in again
    config.write_text("modle = 'x'\n")
    with pytest.raises(ZooError, match="unknown key"):
        raise zoo_cli("train", "--config", config).exception


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "0"], "--lr must be > 0"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--opt-arg", "nesterov=true"], "optimizer 'adam' has no parameter 'nesterov'"),
        (["--val-split", "1.5"], "fraction below 1"),
        (["--device", "tpu"], "--device must be auto, cpu, cuda, cuda:N or mps"),
        (
            ["--model-arg", "num_classes=3"],
            "'num_classes' cannot be set by hand: set from the dataset",
        ),
        (["--opt-arg", "lr=0.5"], "'lr' cannot be set by hand: use --lr"),
    ],
)
def test_bad_values_are_refused_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = zoo_cli("train", *TINY, *args, "--out", tmp_path)
    assert isinstance(result.exception, ZooError), result.output
    assert message in str(result.exception) and "\n" not in str(result.exception)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # refused before any work


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["linear-regression", *TINY_DATA], "is a regression model"),
        (["fixed-net", "--dataset", "pil-images"], "does not accept input 3×10×10"),
        (["fixed-net", *TINY_DATA], "outputs shape (10,) per item but the dataset has 4 classes"),
    ],
)
def test_models_that_do_not_fit_the_dataset_are_refused(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = zoo_cli("train", *args, "--device", "cpu", "--out", tmp_path)
    assert isinstance(result.exception, ZooError), result.output
    assert message in str(result.exception)


def test_regression_trains_with_mse_and_reports_mae(tmp_path: Path) -> None:
    ok("train", "linear-regression", "--dataset", "crop-yields", "--epochs", "2", "--out", tmp_path)
    run = run_dir(tmp_path)
    history = metrics(run)
    assert "test_mae" in history[-1] and "test_accuracy" not in history[-1]
    assert history[-1]["test_loss"] < history[0]["train_loss"]
    rows = json.loads((run / "per_class.json").read_text())
    assert [r["target"] for r in rows] == ["apples", "oranges"]
    report = json.loads(ok("eval", run, "--json"))
    assert report["mae"] == pytest.approx(history[-1]["test_mae"])
    assert not (run / "plots" / "confusion_matrix.png").exists()


def test_dataset_without_fast_path_goes_through_a_dataloader(tmp_path: Path) -> None:
    args = ["tiny-net", "--dataset", "pil-images", "--workers", "1", "--batch-size", "8"]
    ok("train", *args, "--epochs", "2", "--device", "cpu", "--lr", "0.01", "--out", tmp_path)
    run = run_dir(tmp_path)
    history = metrics(run)
    assert history[-1]["test_accuracy"] == 1.0  # dark vs bright is easy
    assert json.loads((run / "checkpoints" / "last.json").read_text())["input_shape"] == [3, 10, 10]
    report = json.loads(ok("eval", run, "--split", "train", "--json"))
    assert report["items"] == 40


def test_held_out_validation_and_eval_of_the_val_split(tmp_path: Path) -> None:
    ok("train", *TINY, "--epochs", "1", "--val-split", "0.25", "--out", tmp_path)
    run = run_dir(tmp_path)
    report = json.loads(ok("eval", run, "--split", "val", "--json"))
    assert report["items"] == 16  # a quarter of the 64 train images
    assert report["accuracy"] == pytest.approx(metrics(run)[0]["val_accuracy"])
    assert (run / "checkpoints" / "best.safetensors").is_file()  # chosen on held-out items


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(
    tmp_path: Path,
) -> None:
    # 64 images in batches of 16: 4 steps an epoch; outputs turn NaN from step 6 (epoch 2)
    args = ["nan-net", *TINY_DATA, "--batch-size", "16", "--model-arg", "after=5"]
    result = zoo_cli("train", *args, "--epochs", "3", "--out", tmp_path)
    assert isinstance(result.exception, ZooError)
    message = str(result.exception)
    assert "NaN or infinite in epoch 2" in message and "checkpoint (epoch 1) is kept" in message
    run = run_dir(tmp_path)
    checkpoint = load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert checkpoint.epoch == 1
    assert all(torch.isfinite(t).all() for t in checkpoint.weights.values())
    assert len(metrics(run)) == 1


def test_corrupt_or_truncated_checkpoints_are_clear_errors(tmp_path: Path) -> None:
    ok("train", *TINY, "--epochs", "1", "--out", tmp_path)
    checkpoints = run_dir(tmp_path) / "checkpoints"
    weights = checkpoints / "last.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ZooError, match="corrupt or truncated"):
        load_checkpoint(weights)
    state = checkpoints / "last.state.pt"
    state.write_bytes(state.read_bytes()[:200])
    with pytest.raises(ZooError, match="corrupt or truncated"):
        load_state(state)
    with pytest.raises(ZooError, match=r"not a \.safetensors checkpoint"):
        load_checkpoint(checkpoints / "last.json")


def test_log_probability_models_train_with_nll() -> None:
    nll = Objective("classification", "log_probs", 3)
    logits, target = torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0])
    log_probs = logits.log_softmax(1)
    assert torch.allclose(nll.loss(log_probs, target), F.nll_loss(log_probs, target))
    assert not torch.allclose(nll.loss(logits, target), F.cross_entropy(logits, target))
    cross_entropy = Objective("classification", "logits", 3)
    assert torch.allclose(cross_entropy.loss(logits, target), F.cross_entropy(logits, target))


def test_batch_augmentation_and_normalisation_on_uint8() -> None:
    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    crop_flip, flip = Augmentation("random", 4), Augmentation("random")
    cropped = augment(images, None, crop_flip, torch.Generator().manual_seed(0))
    assert cropped.shape == images.shape and cropped.dtype == torch.uint8
    again = augment(images, None, crop_flip, torch.Generator().manual_seed(0))
    assert torch.equal(cropped, again) and not torch.equal(cropped, images)
    flipped = augment(images, None, flip, torch.Generator().manual_seed(1))
    assert all(
        torch.equal(f, i) or torch.equal(f, i.flip(2)) for f, i in zip(flipped, images, strict=True)
    )
    preprocessing = Preprocessing((3, 8, 8), (0.5,) * 3, (0.25,) * 3)
    preprocess = BatchPipeline(preprocessing, torch.device("cpu"), channels_last=True)
    normalised = preprocess(images)
    assert torch.allclose(normalised, (images.float() / 255 - 0.5) / 0.25, atol=1e-5)
    assert normalised.is_contiguous(memory_format=torch.channels_last)


def test_recipe_normalisation_that_does_not_fit_the_data_falls_back_to_the_datasets(tmp_path):
    result = zoo_here(
        "train", "cifar10-cnn", "-d", "mnist-5k", "--epochs", "1", "--device", "cpu",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run_dir,) = tmp_path.iterdir()
    meta = json.loads((run_dir / "checkpoints" / "last.json").read_text())
    assert meta["input_shape"] == [1, 28, 28] and meta["mean"] == [pytest.approx(0.1311, abs=1e-3)]

    (tmp_path / "bad.toml").write_text("mean = [0.5, 0.5, 0.5]\nstd = [0.5, 0.5, 0.5]\n")
    result = zoo_here(
        "train", "mnist-mlp3", "-d", "mnist-5k", "--config", str(tmp_path / "bad.toml")
    )
    assert result.returncode == 2 and "mean has 3 values" in result.stderr


def test_a_recipes_optimizer_arguments_stay_with_its_optimizer(tmp_path: Path) -> None:
    recipe = {"optimizer": "sgd", "lr": 0.1, "opt_args": {"momentum": 0.9, "nesterov": True}}
    zoo.register_model("sgd-net", default_dataset="synthetic", recipe=recipe)(
        train_support.tiny_net
    )
    kept = ok("train", "sgd-net", "--print-config")
    assert "momentum = 0.9" in kept and "nesterov = true" in kept
    switched = ok("train", "sgd-net", "-o", "adam", "--print-config")  # sgd's momentum would fail
    assert 'optimizer = "adam"' in switched and "momentum" not in switched
    own = ok("train", "sgd-net", "-o", "adam", "--opt-arg", "amsgrad=true", "--print-config")
    assert "amsgrad = true" in own


def test_config_files_are_typed_like_flags(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(
        'model = "tiny-net"\nlr = 1\nepochs = 2\nmean = [0, 1, 0]\n'
        "std = [1, 1, 1]\n[opt_args]\neps = 1e-7\n"
    )
    text = ok("train", "--config", config, "--print-config")
    assert "lr = 1.0" in text and "mean = [0.0, 1.0, 0.0]" in text and "eps = 1e-07" in text
    for line, message in (
        ('epochs = "many"', "'epochs' must be an integer, not 'many'"),
        ("epochs = 2.5", "'epochs' must be an integer, not 2.5"),
        ("amp = 1", "'amp' must be true or false, not 1"),
        ('mean = ["a"]', "'mean' must be a list of numbers"),
        ("opt_args = 3", "'opt_args' must be a table"),
        ('[opt_args]\neps = "small"', "'eps' must be a number, not 'small'"),
    ):
        config.write_text(f'model = "tiny-net"\n{line}\n')
        result = zoo_cli("train", "--config", config, "--print-config")
        assert isinstance(result.exception, ZooError), (line, result.output)
        assert message in str(result.exception), (line, str(result.exception))
