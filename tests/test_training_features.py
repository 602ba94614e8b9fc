"""The training features a modern CIFAR-10 recipe needs (issue 19), each on tiny data with real
training steps: label smoothing, per-step schedules, parameter groups, the weight average and
lookahead, batched augmentation (translation, alternating flips), test-time augmentation in eval
and export, the data-init hook, and the precision ``auto`` picks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from export_support import quick_export, source_samples
from safetensors.torch import load_file
from torch import nn
from train_support import (
    TINY_DATA,
    metrics,
    ok,
    run_dir,
    same_metrics,
    saved_epoch,
    start,
    zoo_cli,
)

import zoo
from zoo.artifacts.card import Preprocessing
from zoo.artifacts.checkpoint import load_state
from zoo.artifacts.config import TrainConfig
from zoo.export import pipeline, runtimes
from zoo.export.options import ExportRequest
from zoo.machine import Machine
from zoo.sources import SourceRequest
from zoo.train.data import Augmentation, BatchPipeline, Shard, TensorSplit, augment, flip_start
from zoo.train.device import effective_precision
from zoo.train.objective import Objective, evaluate
from zoo.train.optimisation import WeightAverage, make_optimizer, resting, step_factor
from zoo.tta import TestTimeAugmented as Augmented
from zoo.tta import with_tta

TINY = ["tiny-net", *TINY_DATA, "--batch-size", "16", "--device", "cpu"]
pytestmark = pytest.mark.usefixtures("tiny_entries")


def test_label_smoothing_gives_the_loss_its_formula_predicts() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    target = torch.tensor([0, 2])
    smoothing = 0.2
    log_p = logits.log_softmax(1)
    # (1 − ε)·(−log p of the target) + ε·(the mean over the classes of −log p)
    expected = ((1 - smoothing) * -log_p[[0, 1], target] - smoothing * log_p.mean(1)).mean()
    loss = Objective("classification", "logits", 3, smoothing).loss(logits, target)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    nll = Objective("classification", "log_probs", 3, smoothing).loss(log_p, target)
    assert float(nll) == pytest.approx(float(expected), rel=1e-6)
    assert float(Objective("classification", "logits", 3).loss(logits, target)) < float(loss)


def test_a_per_step_schedule_has_its_value_at_known_steps() -> None:
    config = TrainConfig(scheduler="linear", warmup=0.25, lr_start=0.2, lr_end=0.1)
    factor = step_factor(config, total=100)
    assert factor(0) == pytest.approx(0.2)  # the first step
    assert factor(25) == pytest.approx(1.0)  # the end of the warm-up
    assert factor(12) == pytest.approx(0.2 + 0.8 * 12 / 25)
    assert factor(100) == pytest.approx(0.1)  # the last
    assert factor(25 + 75 // 3) == pytest.approx(1 - 0.9 / 3)
    cycle = step_factor(TrainConfig(scheduler="onecycle", warmup=0.5, lr_start=0.1), 10)
    assert cycle(0) == pytest.approx(0.1) and cycle(5) == pytest.approx(1.0)
    assert cycle(10) == pytest.approx(0.0) and cycle(8) == pytest.approx(
        (1 + math.cos(0.6 * math.pi)) / 2
    )


def killed_then_resumed(args: list[str], out: Path) -> Path:
    """A run SIGKILLed while saving its second epoch, then resumed to its end: its directory."""
    process = start("train", *args, "--out", str(out), ZOO_TEST_FAULT="die:last.safetensors:2")
    output, _ = process.communicate(timeout=300)
    assert process.returncode == -9, output  # killed mid-write, as a crash would
    run = run_dir(out)
    assert saved_epoch(run) == 1
    ok("train", "--resume", run)
    return run


def test_a_per_step_schedule_is_followed_and_resumes_where_it_stopped(tmp_path: Path) -> None:
    schedule = ["--scheduler", "linear", "--warmup", "0.3", "--lr-start", "0.1", "--lr-end", "0"]
    args = [*TINY, *schedule, "--epochs", "3"]
    ok("train", *args, "--out", tmp_path / "whole")
    whole = metrics(run_dir(tmp_path / "whole"))
    steps = 4  # 64 items, batch 16
    factor = step_factor(TrainConfig(scheduler="linear", warmup=0.3, lr_start=0.1), 3 * steps)
    # the rate after each epoch's last step (the scheduler steps once a step)
    assert [m["lr"] for m in whole] == pytest.approx([1e-3 * factor(e * steps) for e in (1, 2, 3)])
    resumed = killed_then_resumed(args, tmp_path / "cut")
    same_metrics(metrics(resumed), whole)


def test_parameter_groups_get_their_own_rates() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    config = TrainConfig(
        optimizer="sgd",
        lr=0.5,
        opt_args={"momentum": 0.9, "weight_decay": 0.01},
        param_groups={"1.*": {"lr_scale": 64.0, "decay_scale": 0.25}},
    )
    optimizer = make_optimizer(config, model)
    norm, rest = optimizer.param_groups
    assert {id(p) for p in norm["params"]} == {id(p) for p in model[1].parameters()}
    assert norm["lr"] == pytest.approx(32.0) and norm["weight_decay"] == pytest.approx(0.0025)
    assert rest["lr"] == pytest.approx(0.5) and rest["weight_decay"] == pytest.approx(0.01)
    with pytest.raises(zoo.ArgumentError, match="matches no parameter"):
        make_optimizer(TrainConfig(param_groups={"nothing.*": {"lr_scale": 2.0}}), model)


def test_param_group_flag_is_checked_and_recorded(tmp_path: Path) -> None:
    group = ["--param-group", "head.*:lr_scale=2,decay_scale=0.5"]
    ok("train", *TINY, "--epochs", "1", *group, "--out", tmp_path)
    run = run_dir(tmp_path)
    config = json.loads((run / "config.json").read_text())
    assert config["param_groups"] == {"head.*": {"lr_scale": 2.0, "decay_scale": 0.5}}
    assert '[param_groups."head.*"]' in (run / "config.toml").read_text()
    bad = zoo_cli("train", *TINY, "--param-group", "head.*:speed=2", "--out", tmp_path / "bad")
    assert "is not PATTERN:lr_scale=X,decay_scale=Y" in str(bad.exception)


def test_the_kept_weights_are_the_average_and_resume_restores_it(tmp_path: Path) -> None:
    average = ["--ema", "0.5", "--ema-every", "2"]
    ok("train", *TINY, *average, "--epochs", "2", "--out", tmp_path / "whole")
    whole = run_dir(tmp_path / "whole")
    checkpoints = whole / "checkpoints"
    kept = load_file(checkpoints / "last.safetensors")
    live = load_state(checkpoints / "last.state.pt")["live"]
    assert not torch.equal(kept["head.1.weight"], live["head.1.weight"])  # the average, kept
    # the recorded test accuracy is the average's: evaluating the kept file gives it again
    result = zoo_cli("eval", str(whole), "--json")
    assert json.loads(result.output)["accuracy"] == metrics(whole)[-1]["test_accuracy"]
    # killed while saving the second epoch, then resumed: the same average, the same weights
    cut = killed_then_resumed([*TINY, *average, "--epochs", "2"], tmp_path / "cut")
    resumed = load_file(cut / "checkpoints" / "last.safetensors")
    assert all(torch.equal(resumed[k], kept[k]) for k in kept)
    again = load_state(cut / "checkpoints" / "last.state.pt")["live"]
    assert all(torch.equal(again[k], live[k]) for k in live)


def test_lookahead_moves_the_weights_to_the_average() -> None:
    model = nn.Linear(2, 1)
    config = TrainConfig(ema=0.5, ema_every=1, lookahead=True)
    average = WeightAverage(model, config, total_steps=2)
    with torch.no_grad():
        model.weight.add_(1.0)
    before, live = average.state["weight"].clone(), model.weight.detach().clone()
    average.update(model, 1)  # decay 0.5 · (1/2)³
    decay = 0.5 * (1 / 2) ** 3
    expected = before + (1 - decay) * (live - before)
    assert torch.allclose(average.state["weight"], expected)
    assert torch.equal(model.weight.detach(), average.state["weight"])  # it jumped to it


def test_translation_with_padding_and_flips_on_batches() -> None:
    images = torch.arange(2 * 1 * 4 * 4, dtype=torch.uint8).reshape(2, 1, 4, 4)
    generator = torch.Generator().manual_seed(0)
    reflected = augment(images, None, Augmentation(translate=2, padding="reflect"), generator)
    zeroed = augment(images, None, Augmentation(translate=2), torch.Generator().manual_seed(0))
    assert reflected.shape == images.shape == zeroed.shape and reflected.dtype == torch.uint8
    # every reflected pixel is one of the image's own; zero padding brings in zeros
    for index in range(2):
        assert set(reflected[index].flatten().tolist()) <= set(images[index].flatten().tolist())
    moved = (zeroed != images).any()
    assert moved and (zeroed == 0).sum() >= (images == 0).sum()


def test_alternating_flips_are_deterministic_for_a_seed_and_alternate() -> None:
    images = torch.rand(6, 1, 2, 3)
    index = torch.arange(6)
    flips = Augmentation(flip="alternate")
    generator = torch.Generator()
    first = augment(images, index, flips, generator, epoch=1, seed=3)
    second = augment(images, index, flips, generator, epoch=2, seed=3)
    again = augment(images, index, flips, generator, epoch=1, seed=3)
    assert torch.equal(first, again)  # the seed, the index and the epoch decide
    assert torch.equal(
        second, torch.where(torch.ones(6, 1, 1, 1, dtype=bool), first.flip(3), first)
    )
    shuffled = torch.tensor([5, 0, 3, 1, 4, 2])
    moved = augment(images[shuffled], shuffled, flips, generator, epoch=1, seed=3)
    assert torch.equal(moved, first[shuffled])  # whatever batch or order an image comes in
    starts = {tuple(flip_start(torch.arange(64), seed).tolist()) for seed in range(4)}
    assert len(starts) == 4  # another seed, another start


def test_augmentation_never_reaches_evaluation() -> None:
    seen = []

    class Recorder(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x.clone())
            return x.flatten(1)[:, :2]

    images = torch.randint(0, 256, (8, 3, 4, 4), dtype=torch.uint8)
    split = TensorSplit(
        images, torch.zeros(8, dtype=torch.long), 8, torch.device("cpu"), Shard(), 0
    )
    preprocessing = Preprocessing((3, 4, 4), (0.5,) * 3, (0.25,) * 3)
    heavy = Augmentation(flip="random", translate=2, padding="reflect")
    pipeline = BatchPipeline(preprocessing, torch.device("cpu"), augmentation=heavy)
    evaluate(Recorder(), split, pipeline, Objective("classification", "logits", 2))
    plain = BatchPipeline(preprocessing, torch.device("cpu"))(images)
    assert torch.equal(seen[0], plain)
    assert not torch.equal(pipeline(images, torch.arange(8), train=True), plain)


def test_test_time_augmentation_is_the_mean_of_its_views() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(5)).eval()
    x = torch.randn(2, 3, 8, 8)
    model(x)
    with torch.no_grad():
        flip = (model(x) + model(x.flip(3))) / 2
        assert torch.allclose(Augmented(model, "flip")(x), flip, atol=1e-6)
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        views = [x, padded[:, :, :8, :8], padded[:, :, 2:, 2:]]
        mirrored = [(model(v) + model(v.flip(3))) / 2 for v in views]
        expected = 0.5 * mirrored[0] + 0.25 * mirrored[1] + 0.25 * mirrored[2]
        assert torch.allclose(Augmented(model, "flip-translate")(x), expected, atol=1e-6)
    assert with_tta(model, "none") is model


def test_exported_tta_file_answers_like_the_evaluated_model(tmp_path: Path) -> None:
    source = SourceRequest(spec="cifar10-tinycnn", input_shape=(3, 8, 8), num_classes=3).resolve()
    manifest = quick_export(source, tmp_path / "tta", 6, formats=("onnx",), tta="flip-translate")
    entry = manifest.file("onnx")
    assert entry.facts.tta == "flip-translate" and entry.verification.passed
    inputs = np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32)
    session = runtimes.onnx_session(tmp_path / "tta" / entry.path, optimisation="basic")
    with torch.no_grad():
        eager = with_tta(source.model(), "flip-translate")(torch.from_numpy(inputs)).numpy()
    assert np.allclose(runtimes.onnx_runner(session)(inputs), eager, atol=1e-5, rtol=1e-5)
    plain = np.asarray(source.model()(torch.from_numpy(inputs)).detach())
    assert not np.allclose(plain, eager, atol=1e-4)  # the views changed the answer


def test_bench_of_a_tta_export_holds_eager_to_the_same_views(tmp_path: Path) -> None:
    source = SourceRequest(spec="cifar10-tinycnn", input_shape=(3, 8, 8), num_classes=3).resolve()
    quick_export(source, tmp_path / "tta", 6, formats=("onnx",), tta="flip-translate")
    args = ["bench", str(tmp_path / "tta"), "--backends", "onnxruntime", "--test-samples", "8"]
    result = zoo_cli(
        *args, "--batch-sizes", "1", "--iterations", "2", "--max-time", "0.1", "--json"
    )
    assert result.exit_code == 0, result.output
    (parity,) = json.loads(result.output)["parity"]
    assert parity["passed"] and parity["max_abs"] < 1e-4  # without the views: ~1e-2


def test_a_tta_export_quantises_to_int8_with_the_model_in_it_once(tmp_path: Path) -> None:
    source = SourceRequest(spec="cifar10-tinycnn", input_shape=(3, 8, 8), num_classes=3).resolve()
    samples = source_samples(source, 32)
    request = ExportRequest(formats=("onnx",), precisions=("int8",), tta="flip-translate")
    manifest = pipeline.export(source, tmp_path / "q", request, samples.take(8), None, samples)
    fp32, int8 = manifest.file("onnx"), manifest.file("onnx", "int8")
    assert int8.facts.tta == "flip-translate" and int8.bytes < fp32.bytes / 2  # weights in int8
    graph = onnx.load(str(tmp_path / "q" / fp32.path)).graph
    convolutions = [m for m in source.model().modules() if isinstance(m, nn.Conv2d)]
    assert len([n for n in graph.node if n.op_type == "Conv"]) == len(convolutions)  # once


def test_eval_with_tta_is_recorded_beside_the_plain_evaluation(tmp_path: Path) -> None:
    ok("train", *TINY, "--epochs", "1", "--out", tmp_path)
    run = run_dir(tmp_path)
    plain = json.loads(zoo_cli("eval", str(run), "--json").output)
    views = json.loads(zoo_cli("eval", str(run), "--tta", "flip", "--json").output)
    assert plain["tta"] == "none" and views["tta"] == "flip"
    assert Path(views["output_dir"]).name == "synthetic-test-tta-flip"
    assert (run / "eval" / "synthetic-test" / "metrics.json").is_file()


def test_the_data_init_hook_runs_once_and_never_on_resume(tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"

    class Hooked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(3 * 8 * 8, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x.flatten(1))

        def zoo_data_init(self, inputs: torch.Tensor) -> None:
            with open(calls, "a") as file:
                file.write(f"{tuple(inputs.shape)} {inputs.dtype} {float(inputs.mean()):.3f}\n")

    zoo.register_model("hooked-net")(lambda num_classes=4, input_shape=(3, 8, 8): Hooked())
    common = ["hooked-net", *TINY_DATA, "--batch-size", "16", "--device", "cpu"]
    output = ok("train", *common, "--epochs", "1", "--out", tmp_path / "runs")
    run = run_dir(tmp_path / "runs")
    (line,) = calls.read_text().splitlines()
    assert line.startswith("(64, 3, 8, 8) torch.float32")  # all 64 items, preprocessed
    assert "zoo_data_init: initialised from 64 training inputs" in output
    ok("train", "--resume", run, "--epochs", "2")
    assert len(calls.read_text().splitlines()) == 1  # not on resume


def test_auto_precision_follows_the_cpu_features(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    without = Machine("a CPU without bf16", 2, ("avx2", "avx512f"))
    monkeypatch.setattr("zoo.machine.this_machine", lambda: without)
    assert effective_precision("auto", cpu) == "fp32"
    with_bf16 = Machine("a CPU with bf16", 2, ("avx2", "avx512f", "avx512_bf16"))
    monkeypatch.setattr("zoo.machine.this_machine", lambda: with_bf16)
    assert effective_precision("auto", cpu) == "bf16"
    assert effective_precision("fp32", cpu) == "fp32"


def test_the_run_and_its_card_say_which_precision_ran(tmp_path: Path) -> None:
    output = ok("train", *TINY, "--epochs", "1", "--precision", "bf16", "--out", tmp_path)
    assert "in bf16 autocast" in output
    card = json.loads((run_dir(tmp_path) / "checkpoints" / "last.json").read_text())
    assert card["training"]["precision"] == "bf16"
    old = zoo_cli("train", *TINY, "--amp", "--out", tmp_path / "old")
    assert old.exit_code == 2  # --amp is now --precision bf16: one flag, not two


def test_configs_written_before_precision_and_flip_still_read(tmp_path: Path) -> None:
    old = tmp_path / "old.toml"
    old.write_text('model = "tiny-net"\namp = true\naugment = "crop-flip"\n')
    printed = ok("train", *TINY_DATA, "--config", old, "--print-config")
    assert 'precision = "bf16"' in printed and 'flip = "random"' in printed
    assert "translate = 4" in printed and "augment" not in printed


def test_a_group_trains_in_its_first_epochs_only(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
    config = TrainConfig(optimizer="sgd", lr=0.1, param_groups={"0.*": {"epochs": 1}})
    optimizer = make_optimizer(config, model)
    assert resting(optimizer, 1) == []
    assert {id(p) for p in resting(optimizer, 2)} == {id(p) for p in model[0].parameters()}
    group = ["--param-group", "features.*:epochs=1", "--seed", "3"]
    weights = {}
    for epochs in (1, 2):
        ok("train", *TINY, "--epochs", str(epochs), *group, "--out", tmp_path / str(epochs))
        weights[epochs] = load_file(
            run_dir(tmp_path / str(epochs)) / "checkpoints" / "last.safetensors"
        )
    assert torch.equal(weights[1]["features.0.weight"], weights[2]["features.0.weight"])
    assert not torch.equal(weights[1]["head.1.weight"], weights[2]["head.1.weight"])


def test_drop_last_leaves_out_the_smaller_batch(tmp_path: Path) -> None:
    inputs, targets = torch.zeros(50, 3, 2, 2, dtype=torch.uint8), torch.arange(50) % 4
    cpu = torch.device("cpu")
    kept = TensorSplit(inputs, targets, 16, cpu, Shard(), seed=0)
    dropped = TensorSplit(inputs, targets, 16, cpu, Shard(), seed=0, drop_last=True)
    assert kept.steps(train=True) == 4 and dropped.steps(train=True) == 3
    sizes = [len(batch[1]) for batch in dropped.batches(1)]
    assert sizes == [16, 16, 16]
    assert [len(b[1]) for b in dropped.batches(None)] == [16, 16, 16, 2]  # evaluation sees all
    ok("train", *TINY, "--batch-size", "24", "--epochs", "1", "--drop-last", "--out", tmp_path)
    (row,) = [json.loads(line) for line in (run_dir(tmp_path) / "metrics.jsonl").open()]
    assert row["train_items"] == 48  # 64 items: two batches of 24, the last 16 left out
    empty = zoo_cli("train", *TINY, "--batch-size", "128", "--drop-last", "--out", tmp_path)
    assert isinstance(empty.exception, zoo.ArgumentError)  # zoo's main: one line, exit status 2
    assert "--drop-last leaves no batch: 64 training items" in str(empty.exception)


def test_training_ends_with_the_tta_evaluation_eval_reproduces(tmp_path: Path) -> None:
    output = ok("train", *TINY, "--epochs", "1", "--tta", "flip", "--out", tmp_path)
    run = run_dir(tmp_path)
    recorded = json.loads((run / "eval" / "synthetic-test-tta-flip" / "metrics.json").read_text())
    assert recorded["tta"] == "flip" and recorded["precision"] == "fp32"
    assert f"accuracy {100 * recorded['accuracy']:.2f} %" in output
    again = json.loads(zoo_cli("eval", str(run), "--json").output)  # the run's TTA: its card's
    assert again["tta"] == "flip" and again["accuracy"] == recorded["accuracy"]
    assert again["loss"] == recorded["loss"]
    bf16 = json.loads(zoo_cli("eval", str(run), "--precision", "bf16", "--json").output)
    assert bf16["precision"] == "bf16" and bf16["tta"] == "flip"
    assert Path(bf16["output_dir"]).name == "synthetic-test-tta-flip-bf16"
