"""Verdicts that depend on the files and the data, not on the CPU or the clock (issue 17), and the
mechanics whose breakage earlier went unnoticed: each test is the behaviour a user relies on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_zoo
from export_support import quick_export, read_metadata, trained_run, with_card
from torch import nn
from train_support import TINY_DATA, metrics, ok, run_dir, same_metrics, saved_epoch, start
from typer.testing import CliRunner

import zoo
from zoo.artifacts.card import Preprocessing
from zoo.artifacts.checkpoint import load_state, resume_point
from zoo.artifacts.manifest import Manifest
from zoo.cli.app import app
from zoo.deployed import openvino_core
from zoo.errors import ZooError
from zoo.export import bench, runtimes
from zoo.export.parity import wilson
from zoo.export.samples import stratified
from zoo.files import sha256_file
from zoo.machine import native_bf16
from zoo.sources import SourceRequest
from zoo.train.data import LoaderSplit, Shard, TensorSplit

TINY = ["tiny-net", *TINY_DATA, "--batch-size", "16", "--device", "cpu"]
QUICK = ["--iterations", "2", "--min-time", "0", "--max-time", "0.3", "--batch-sizes", "2"]


def invoke(*args: object) -> object:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_run(tmp_path_factory.mktemp("runs") / "tinycnn", "cifar10-tinycnn", steps=60)


@pytest.fixture
def fresh_export(digits_run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "export"
    result = invoke("export", digits_run, "--onnx", "--out", out)
    assert result.exit_code == 0, result.output
    return out


# -- samples that represent the data ------------------------------------------------------------


def test_samples_are_stratified_by_class_and_fixed_by_the_seed() -> None:
    labels = np.repeat(np.arange(10), 100)  # stored class by class, as image folders are
    picked = stratified(labels, 50, seed=0)
    assert np.bincount(labels[picked], minlength=10).tolist() == [5] * 10
    assert np.bincount(labels[picked[:10]], minlength=10).tolist() == [1] * 10  # a prefix too
    assert np.array_equal(picked, stratified(labels, 50, seed=0))
    assert not np.array_equal(picked, stratified(labels, 50, seed=1))


def test_a_top1_figure_comes_with_its_interval() -> None:
    low, high = wilson(0.7322, 10_000)
    assert 0.723 < low < 0.7322 < high < 0.741
    small = wilson(1.0, 8)
    assert small[1] == 1.0 and small[0] < 0.7  # 8 of 8 right says little


def test_two_identical_min_accuracy_runs_give_the_same_verdict(fresh_export: Path) -> None:
    verdicts = []
    for budget in ("0.05", "2"):  # the timing budget never shortens the accuracy sample
        result = invoke(
            "bench",
            fresh_export,
            *QUICK[:-2],
            "--max-time",
            budget,
            "--min-accuracy",
            "70",
            "--json",
        )
        data = json.loads(result.output)
        verdicts.append((result.exit_code, [b["top1"] for b in data["backends"]]))
    assert verdicts[0] == verdicts[1]
    assert all(row["samples"] == 256 for row in verdicts[0][1])


def test_an_export_remembers_its_dataset_and_bench_uses_it(
    fresh_export: Path, tmp_path: Path
) -> None:
    manifest = Manifest.read(fresh_export)
    assert manifest.dataset is not None and manifest.dataset.name == "digits"
    assert manifest.dataset.split == "test" and "real test samples of digits" in manifest.inputs
    raw = json.loads((fresh_export / "manifest.json").read_text())
    assert str(tmp_path) not in json.dumps(raw["dataset"])  # a registry name, never a path
    result = invoke("bench", fresh_export, *QUICK, "--json")
    assert "real test samples of digits, stratified by class" in json.loads(result.output)["inputs"]


# -- verdicts a user can rely on ----------------------------------------------------------------


def test_a_backend_asked_for_that_is_not_here_is_one_line_and_exit_2(
    fresh_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("zoo.export.backends.openvino.missing", lambda: "openvino is not installed")
    result = run_zoo("bench", str(fresh_export), "--backends", "eager,onnxruntime-int8", *QUICK)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no int8 onnx file to run" in result.stderr and len(result.stderr.splitlines()) == 1


def test_verify_passes_on_a_fresh_export_and_fails_when_a_file_changes(fresh_export: Path) -> None:
    fine = run_zoo("verify", str(fresh_export))
    assert fine.returncode == 0, fine.stdout + fine.stderr
    assert "verified" in fine.stdout and "certified" in fine.stdout
    onnx_file = fresh_export / "cifar10-tinycnn.onnx"
    certificate = read_metadata("onnx", onnx_file).certificate
    assert certificate is not None and certificate.parity.passed
    assert certificate.dataset.name == "digits" and certificate.count == 16
    assert certificate.machine["cpu"] and "features" in certificate.machine
    assert certificate.checks_sha256 == sha256_file(fresh_export / "verification.npz")
    data = bytearray(onnx_file.read_bytes())
    data[-5] ^= 0xFF  # one byte
    onnx_file.write_bytes(bytes(data))
    broken = run_zoo("verify", str(fresh_export))
    assert broken.returncode == 1 and "differs from its manifest" in broken.stdout
    benched = run_zoo("bench", str(fresh_export), *QUICK)
    assert benched.returncode == 2 and "differs from its manifest" in benched.stderr


def test_a_weights_copy_changed_in_an_export_directory_is_refused(fresh_export: Path) -> None:
    copy = fresh_export / "cifar10-tinycnn.safetensors"
    data = bytearray(copy.read_bytes())
    data[-1] ^= 0x01
    copy.write_bytes(bytes(data))
    result = run_zoo("bench", str(fresh_export), *QUICK)
    assert result.returncode == 2 and "differs from the one exported (sha256)" in result.stderr
    assert run_zoo("verify", str(fresh_export)).returncode == 1


def test_verify_fails_when_the_runtime_answers_otherwise(
    fresh_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = runtimes.onnx_runner

    def drifting(session: object) -> object:  # a runtime upgrade that changes the answers
        run = real(session)
        return lambda batch: run(batch) + 0.05

    monkeypatch.setattr(runtimes, "onnx_runner", drifting)
    result = invoke("verify", fresh_export)
    assert result.exit_code == 1 and "breaks |a−b|" in result.output


def test_an_earlier_export_is_replaced_whole_only_with_force(
    digits_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    assert invoke("export", digits_run, "--onnx", "--int8", "--out", out).exit_code == 0
    assert (out / "cifar10-tinycnn.int8.onnx").is_file()
    again = invoke("export", digits_run, "--onnx", "--embed-preprocessing", "--out", out)
    assert isinstance(again.exception, ZooError) and "--force" in str(again.exception)
    replaced = invoke(
        "export", digits_run, "--onnx", "--embed-preprocessing", "--force", "--out", out
    )
    assert replaced.exit_code == 0, replaced.output
    names = sorted(p.name for p in out.iterdir())
    assert "cifar10-tinycnn.int8.onnx" not in names  # the earlier set is gone, not kept beside
    assert Manifest.read(out).files[0].facts.input == "uint8 NCHW"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no staging left behind


def test_an_interrupted_export_leaves_the_directory_as_it_was(
    digits_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoo.export import pipeline

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "measure_accuracy", interrupted)
    result = invoke("export", digits_run, "--onnx", "--out", tmp_path / "export")
    assert result.exit_code != 0
    assert list(tmp_path.iterdir()) == []  # no empty folder, no partial set


def test_out_naming_a_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("not a directory")
    result = run_zoo("export", "mnist-logreg", "--onnx", "--out", str(target))
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        f"error: --out '{target}' is a file: name a directory for the export"
    ]


def test_percentiles_are_right_on_known_timings() -> None:
    p50, p90, p99 = bench.percentiles([ms / 1000 for ms in range(1, 101)])
    assert (p50, p90, p99) == pytest.approx((50.5, 90.1, 99.01))


def test_ratios_within_the_rounds_spread_are_marked_as_noise() -> None:
    def row(backend: str, low: float, p50: float, high: float) -> bench.Latency:
        return bench.Latency(backend, "cpu", 1, 10, 5, p50, p50, p50, low, high, 1e3 / p50)

    rows = [row("eager", 0.9, 1.0, 1.1), row("a", 1.05, 1.1, 1.2), row("b", 0.49, 0.5, 0.51)]
    bench.against_eager(rows)
    assert rows[1].within_noise and not rows[2].within_noise and not rows[0].within_noise
    assert rows[2].speedup_vs_eager == pytest.approx(2.0)
    result = bench.BenchResult("m", "s", 1, "x", 1, latency=rows)
    assert result.noise is not None and "±10%" in result.noise  # eager moved ±10 %
    quiet = bench.BenchResult("m", "s", 1, "x", 1, latency=[row("eager", 0.99, 1.0, 1.01)])
    assert quiet.noise is None


# -- each row at the precision it names ------------------------------------------------------


def test_float32_rows_stay_float32_when_the_cpu_default_is_bf16(
    fresh_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino")
    core = openvino_core()
    core.set_property("CPU", {"INFERENCE_PRECISION_HINT": "bf16"})  # as on AVX512_BF16 and AMX
    try:
        result = invoke("bench", fresh_export, *QUICK, "--json")
    finally:
        core.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    data = json.loads(result.output)
    rows = {row["backend"]: row for row in data["parity"]}
    assert rows["openvino"]["passed"] and rows["openvino"]["precision"] == "fp32"
    settings = data["environment"]["precision settings"]
    assert settings["openvino (cpu)"] == "INFERENCE_PRECISION_HINT f32"
    if native_bf16():
        assert rows["openvino-bf16"]["precision"] == "bf16" and rows["openvino-bf16"]["passed"]
        assert settings["openvino-bf16 (cpu)"] == "INFERENCE_PRECISION_HINT bf16"
    else:
        skipped = {s["backend"]: s["reason"] for s in data["skipped"]}
        assert "no native bfloat16" in skipped["openvino-bf16"]


class NearTies(nn.Module):
    """Class scores that differ only in the fourth decimal of weights near 0.5, on top of a
    score of 8 every class shares: float32 keeps them apart, float16 (steps of 0.0005 at 0.5 and
    of 0.008 at 8) rounds them together. The shared 8 makes every input's outputs large enough
    that float16's errors stay within its elementwise tolerance (0.01 of the largest output),
    whatever the input, and its flips are ties at that precision: the accuracy gate, and only
    it, sees the damage, on any fair sample."""

    def __init__(self) -> None:
        super().__init__()
        self.delta = nn.Linear(64, 10)
        self.register_buffer("base", torch.full((10, 64), 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.base + 1e-4 * self.delta.weight
        return 8.0 + torch.nn.functional.linear(x.flatten(1), weight, 1e-4 * self.delta.bias)


def test_a_float16_file_that_lost_accuracy_fails_the_float16_gate(tmp_path: Path) -> None:
    zoo.register_model("near-ties")(lambda num_classes=10, input_shape=(1, 8, 8): NearTies())
    try:
        run = trained_run(tmp_path / "run", "near-ties", steps=150)
        for seed in ("0", "1", "2"):  # other fair samples: the same verdict
            out = tmp_path / f"out-{seed}"
            result = invoke("export", run, "--onnx", "--fp16", "--seed", seed, "--out", out)
            assert result.exception is not None, result.output
            assert "float16 ONNX file loses" in str(result.exception)
            assert not out.exists()
        loose = invoke(
            "export",
            run,
            "--onnx",
            "--fp16",
            "--max-accuracy-drop",
            "100",
            "--out",
            tmp_path / "out",
        )
        assert loose.exit_code == 0  # the same file, a gate wide enough
    finally:
        zoo.reload_registry()


# -- mechanics that must hold ------------------------------------------------------------------


@pytest.mark.usefixtures("tiny_entries")
def test_a_killed_cosine_run_resumes_to_the_same_rates_and_metrics(tmp_path: Path) -> None:
    args = [*TINY, "--scheduler", "cosine", "--epochs", "3"]
    ok("train", *args, "--out", tmp_path / "whole")
    whole = metrics(run_dir(tmp_path / "whole"))
    process = start(
        "train", *args, "--out", str(tmp_path / "cut"), ZOO_TEST_FAULT="die:last.safetensors:2"
    )
    output, _ = process.communicate(timeout=300)
    assert process.returncode == -9, output
    run = run_dir(tmp_path / "cut")
    assert saved_epoch(run) == 1
    ok("train", "--resume", run)
    resumed = metrics(run)
    assert [m["lr"] for m in resumed] == pytest.approx([m["lr"] for m in whole])
    same_metrics(resumed, whole)


def test_a_weights_file_sharing_the_first_16_hex_digits_is_refused(tmp_path: Path) -> None:
    from test_weights import register_web_net, write_weights

    from zoo.weights import declared as weights

    path = write_weights(tmp_path / "w.safetensors")
    real = sha256_file(path)
    near = real[:16] + ("0" if real[16] != "0" else "1") + real[17:]
    try:
        register_web_net(path.as_uri(), near)
        with pytest.raises(ZooError, match="does not have the declared sha256"):
            weights.weights_for("web-net", "v1")
    finally:
        zoo.reload_registry()


def test_the_training_order_changes_from_epoch_to_epoch() -> None:
    inputs, targets = torch.arange(40).float().view(40, 1), torch.arange(40) % 2
    for shard in (Shard(), Shard(0, 2), Shard(1, 2)):
        split = TensorSplit(inputs, targets, 8, torch.device("cpu"), shard, seed=0)
        orders = [torch.cat([b[2] for b in split.batches(epoch)]).tolist() for epoch in (1, 2)]
        assert orders[0] != orders[1] and len(orders[0]) == len(orders[1]) == 40 // shard.world

    class Items(torch.utils.data.Dataset):  # no as_tensors: the DataLoader path
        def __len__(self) -> int:
            return 40

        def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
            return torch.tensor([float(index)]), index % 2, index

    for shard in (Shard(), Shard(1, 2)):
        loader = LoaderSplit(Items(), 8, torch.device("cpu"), shard, seed=0, workers=0)
        orders = [torch.cat([b[2] for b in loader.batches(epoch)]).tolist() for epoch in (1, 2)]
        assert orders[0] != orders[1] and len(orders[0]) == len(orders[1]) == 40 // shard.world


class Payload:
    """Any object a pickle can carry: loading it would run its class's code."""


@pytest.mark.usefixtures("tiny_entries")
def test_a_pickled_object_in_the_training_state_is_refused(tmp_path: Path) -> None:
    ok("train", *TINY, "--epochs", "1", "--out", tmp_path)
    run = run_dir(tmp_path)
    state = run / "checkpoints" / "last.state.pt"
    torch.save({"epoch": 1, "payload": Payload()}, state)
    assert b"Payload" in state.read_bytes()
    with pytest.raises(ZooError, match="corrupt or truncated"):
        load_state(state)
    with pytest.raises(ZooError, match="corrupt or truncated"):
        resume_point(run)
    result = run_zoo("train", "--resume", str(run), "--epochs", "2")
    assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.usefixtures("tiny_entries")
def test_a_sweep_run_that_diverged_is_never_started_again(tmp_path: Path) -> None:
    sweep = ["sweep", "nan-net", *TINY_DATA, "--device", "cpu", "--epochs", "2"]
    sweep += ["--grid", "model.after=1,1000", "--out", tmp_path]
    ok(*sweep)
    (folder,) = [p for p in tmp_path.iterdir() if p.name.startswith("sweep-")]
    records = {p.parent.name: json.loads(p.read_text()) for p in folder.glob("*/sweep_run.json")}
    diverged = [name for name, r in records.items() if r["status"] == "diverged"]
    assert len(diverged) == 1
    log = folder / diverged[0] / "train.log"
    before = log.read_text()
    ok("sweep", "--resume", folder)
    assert log.read_text() == before  # not trained again
    assert json.loads((folder / diverged[0] / "sweep_run.json").read_text())["status"] == "diverged"


def test_an_rgb_model_with_embedded_preprocessing_keeps_the_channel_order(tmp_path: Path) -> None:
    source = SourceRequest(spec="cifar10-tinycnn", input_shape=(3, 8, 8), num_classes=4).resolve()
    stats = Preprocessing((3, 8, 8), (0.1, 0.5, 0.9), (0.2, 0.3, 0.4))  # a mean per channel
    source = with_card(source, preprocessing=stats)
    manifest = quick_export(
        source, tmp_path / "out", 4, formats=("onnx",), embed_preprocessing=True
    )
    entry = manifest.file("onnx")
    pixels = np.zeros((1, 3, 8, 8), dtype=np.uint8)
    pixels[0, 0], pixels[0, 1], pixels[0, 2] = 250, 120, 5  # red, green and blue apart
    session = runtimes.onnx_session(tmp_path / "out" / entry.path, optimisation="basic")
    got = runtimes.onnx_runner(session)(pixels)
    normalised = source.card.preprocessing.normalise(pixels)
    with torch.no_grad():
        expected = source.model()(torch.from_numpy(normalised)).numpy()
        swapped = source.model()(torch.from_numpy(normalised[:, ::-1].copy())).numpy()
    assert np.allclose(got, expected, atol=1e-5) and not np.allclose(got, swapped, atol=1e-3)


def test_a_toml_bool_where_an_int_is_meant_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('model = "mnist-mlp3"\nepochs = true\n')
    result = run_zoo("train", "--config", str(config), "--print-config")
    assert result.returncode == 2
    assert "'epochs' must be an integer, not True" in result.stderr


def test_predict_says_what_it_did_to_an_input_of_another_shape(tmp_path: Path) -> None:
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (32, 32), (200, 10, 10)).save(photo)
    home = {"ZOO_HOME": str(tmp_path / "home")}
    result = run_zoo("predict", "mnist-mlp3", str(photo), **home)
    assert result.returncode == 0, result.stderr
    assert "RGB 32×32 converted to L and resized to 28×28 (bilinear) for the model" in result.stderr


def test_all_items_are_drawn_in_one_order_whatever_the_count_asked_for() -> None:
    """An export asked for 1,000 samples of a 359-item split measured all 359; zoo verify asks
    for the 359 it measured and must draw the same ones (classes of unequal size)."""
    labels = np.repeat(np.arange(10), [36, 37, 35, 36, 36, 36, 37, 35, 36, 35])
    every = stratified(labels, 1000, seed=0)
    assert sorted(every.tolist()) == list(range(len(labels)))
    assert np.array_equal(stratified(labels, len(labels), seed=0), every)
