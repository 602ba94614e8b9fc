"""int8 and float16 exports, embedded preprocessing, accuracy per file and per bench backend, and
the export and bench fixes found by trying them as a new user would. Models are really trained
(a few hundred Adam steps on scikit-learn's bundled digits), files really run in ONNX Runtime."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import run_zoo
from export_support import normalised_split, quick_export, trained_run
from PIL import Image
from torch import nn
from typer.testing import CliRunner

import zoo
from zoo.artifacts import manifest as facts
from zoo.artifacts.manifest import FileFacts
from zoo.cli.app import app
from zoo.errors import ZooError
from zoo.export import bench
from zoo.export.backends import openvino
from zoo.export.failures import ExportError, VerificationError
from zoo.export.precisions import FP16
from zoo.predict.onnx import Predictor
from zoo.sources import SourceRequest

OPENVINO = openvino.missing() is None
QUICK_BENCH = ["--iterations", "3", "--min-time", "0", "--max-time", "0.2"]


def invoke(*args: str) -> object:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def manifest_of(directory: Path) -> dict:
    return json.loads((directory / "manifest.json").read_text())


def entry(manifest: dict, precision: str, fmt: str = "onnx") -> dict:
    return next(
        f for f in manifest["files"] if f["format"] == fmt and f["facts"]["precision"] == precision
    )


def props(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_run(tmp_path_factory.mktemp("runs") / "tinycnn", "cifar10-tinycnn", steps=120)


@pytest.fixture(scope="module")
def digits_export(digits_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained CNN exported to ONNX with int8 and float16 files beside it."""
    out = tmp_path_factory.mktemp("export") / "plain"
    result = invoke("export", str(digits_run), "--onnx", "--int8", "--fp16", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def embedded_export(digits_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same model taking uint8 pixels and returning probabilities, with an int8 file too."""
    out = tmp_path_factory.mktemp("export") / "embedded"
    result = invoke(
        "export",
        str(digits_run),
        "--onnx",
        "--int8",
        "--embed-preprocessing",
        "--softmax",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    return out


def test_int8_and_fp16_files_record_precision_calibration_and_accuracy(digits_export):
    manifest = manifest_of(digits_export)
    fp32, int8, fp16 = (entry(manifest, p) for p in ("fp32", "int8", "fp16"))
    assert (
        int8["path"] == "cifar10-tinycnn.int8.onnx" and fp16["path"] == "cifar10-tinycnn.fp16.onnx"
    )
    quantised = int8["facts"]
    assert quantised["quantisation"] == facts.STATIC
    assert quantised["calibration"] == {
        "origin": "300 real train samples of digits, stratified by class (seed 0)",
        "count": 300,
        "real": True,
    }
    accuracy = quantised["accuracy"]
    assert accuracy["checked"] and accuracy["samples"] == 359  # the whole digits test split
    assert accuracy["reference_top1"] == fp32["facts"]["accuracy"]["top1"] > 0.8
    assert accuracy["drop_points"] <= 1.0 and accuracy["top1"] > 0.8
    assert int8["bytes"] < fp32["bytes"] / 2
    stored = props(digits_export / int8["path"])
    assert stored["precision"] == "int8" and stored["calibration_count"] == "300"
    assert stored["calibration"] == "300 real train samples of digits, stratified by class (seed 0)"
    assert float(stored["accuracy_top1"]) == accuracy["top1"]
    assert float(stored["accuracy_reference_top1"]) == accuracy["reference_top1"]
    assert stored["model"] == "cifar10-tinycnn" and stored["takes"] == facts.NORMALISED
    assert FileFacts.from_props(stored) == FileFacts.from_json(int8["facts"])
    assert props(digits_export / fp32["path"])["precision"] == "fp32"


def test_float16_file_is_float16_inside_float32_outside_and_verified_on_cpu(digits_export):
    manifest = manifest_of(digits_export)
    fp16 = entry(manifest, "fp16")
    model = onnx.load(str(digits_export / fp16["path"]))
    weights = {t.data_type for t in model.graph.initializer if len(t.dims) > 1}
    assert weights == {onnx.TensorProto.FLOAT16}
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    check = fp16["verification"]
    assert check["passed"] and check["tolerance"] == FP16.rule
    assert check["max_abs"] > 0 and check["tolerance_used"] <= 1
    assert fp16["facts"]["quantisation"] == facts.FLOAT16
    assert abs(fp16["facts"]["accuracy"]["drop_points"]) <= 1.0


def test_exported_files_and_manifest_have_ordinary_permissions(digits_export):
    for path in digits_export.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


@pytest.fixture
def outlier_net():
    class Outlier(nn.Module):
        """The tiny CNN plus an 11th output that is always −1000: never the argmax in float32,
        but it stretches the range int8 quantises the outputs over until the real ones blur."""

        def __init__(self, num_classes: int, input_shape: tuple[int, ...]) -> None:
            super().__init__()
            self.net = zoo.create_model(
                "cifar10-tinycnn", num_classes=num_classes, input_shape=input_shape
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.net(x)
            return torch.cat([y, torch.full_like(y[:, :1], -1000.0)], 1)

    @zoo.register_model("outlier-net")
    def outlier(num_classes: int = 10, input_shape: tuple[int, ...] = (1, 8, 8)) -> nn.Module:
        return Outlier(num_classes, input_shape)

    yield "outlier-net"
    zoo.reload_registry()


def test_int8_that_loses_too_much_accuracy_fails_and_leaves_nothing(outlier_net, tmp_path):
    run = trained_run(tmp_path / "run", outlier_net, steps=100)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["export", str(run), "--onnx", "--int8", "--out", str(out)])
    assert isinstance(result.exception, VerificationError)
    message = str(result.exception)
    assert "int8 ONNX file loses" in message and "--max-accuracy-drop 1" in message
    assert "nothing was written" in message and "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no out, no staging left
    loose = invoke(
        "export", str(run), "--onnx", "--int8", "--max-accuracy-drop", "100", "--out", str(out)
    )
    assert loose.exit_code == 0, loose.output  # the same file passes a gate wide enough


def test_linear_only_model_is_quantised_dynamically(tmp_path):
    run = trained_run(tmp_path / "run", "mnist-mlp", steps=100)
    result = invoke("export", str(run), "--onnx", "--int8", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    int8 = entry(manifest_of(tmp_path / "out"), "int8")
    assert int8["facts"]["quantisation"] == facts.DYNAMIC and int8["facts"]["calibration"] is None
    ops = {node.op_type for node in onnx.load(str(tmp_path / "out" / int8["path"])).graph.node}
    assert "DynamicQuantizeLinear" in ops and "QuantizeLinear" not in ops
    assert int8["facts"]["accuracy"]["checked"] and int8["facts"]["accuracy"]["drop_points"] <= 1


def test_int8_without_real_data_says_accuracy_was_not_checked(tmp_path):
    result = invoke(
        "export",
        "cifar10-tinycnn",
        "--input-shape",
        "1,8,8",
        "--num-classes",
        "4",
        "--onnx",
        "--int8",
        "--calibration-samples",
        "40",
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "note: int8/fp16 accuracy not checked: no labelled test data" in " ".join(
        result.output.split()
    )
    int8 = entry(manifest_of(tmp_path), "int8")["facts"]
    calibration = int8["calibration"]
    assert calibration["origin"].startswith("40 uniform random images, seed 0 (")
    assert calibration["count"] == 40 and calibration["real"] is False
    assert not int8["accuracy"]["checked"] and int8["accuracy"]["top1"] is None
    assert int8["accuracy"]["origin"].startswith("not checked: no labelled test data")


def write_digits(directory: Path, count: int) -> list[str]:
    """The first ``count`` digits test images as PNG files."""
    images, _, _ = normalised_split("digits", False)
    paths = []
    for index in range(count):
        path = directory / f"digit{index}.png"
        Image.fromarray(images[index, 0].numpy()).save(path)
        paths.append(str(path))
    return paths


PREDICT_WITHOUT_TORCH = """
import json, sys
from zoo.cli.app import app
from zoo.errors import ZooError
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    print(json.dumps({"torch_imported": "torch" in sys.modules}), file=sys.stderr)
"""


def test_embedded_preprocessing_takes_uint8_and_predicts_as_the_plain_file(
    digits_export, embedded_export, tmp_path
):
    manifest = manifest_of(embedded_export)
    fp32 = entry(manifest, "fp32")
    assert manifest["card"]["output"] == "logits"  # what the model itself returns
    assert fp32["facts"]["input"] == facts.UINT8_NCHW
    assert fp32["facts"]["output"] == facts.PROBABILITIES
    assert fp32["verification"]["passed"] and fp32["verification"]["max_abs"] < 1e-5
    model = onnx.load(str(embedded_export / fp32["path"]))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    images = write_digits(tmp_path, 6)
    plain = Predictor(digits_export).predict(images, top_k=3)
    embedded = Predictor(embedded_export / fp32["path"]).predict(images, top_k=3)
    for a, b in zip(plain, embedded, strict=True):
        assert [label for label, _ in a.labels] == [label for label, _ in b.labels]
        assert np.allclose([p for _, p in a.labels], [p for _, p in b.labels], atol=1e-5)
    # the command, in a fresh process without torch, reads the file's facts the same way
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PREDICT_WITHOUT_TORCH,
            "predict",
            str(embedded_export),
            *images,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert not json.loads(result.stderr.strip().splitlines()[-1])["torch_imported"]
    rows = json.loads(result.stdout)
    assert [row["outputs"][0]["label"] for row in rows] == [p.labels[0][0] for p in plain]
    # the int8 file of the embedded export takes uint8 too, calibrated on raw pixels
    int8 = entry(manifest, "int8")
    assert int8["facts"]["input"] == facts.UINT8_NCHW and int8["facts"]["accuracy"]["checked"]
    assert Predictor(embedded_export / int8["path"]).predict(images[:1])[0].labels


def test_table_model_embeds_its_feature_normalisation(tmp_path):
    for name, extra in (("plain", []), ("raw", ["--embed-preprocessing"])):
        result = invoke(
            "export", "linear-regression", "--onnx", *extra, "--out", str(tmp_path / name)
        )
        assert result.exit_code == 0, result.output
    raw = manifest_of(tmp_path / "raw")
    assert raw["files"][0]["facts"]["input"] == facts.RAW_FEATURES
    assert raw["files"][0]["facts"]["accuracy"]["origin"].startswith("not checked: a regression")
    plain = Predictor(tmp_path / "plain").predict(["80,100,50", "70,60,40"])
    embedded = Predictor(tmp_path / "raw").predict(["80,100,50", "70,60,40"])
    for a, b in zip(plain, embedded, strict=True):
        assert np.allclose([v for _, v in a.labels], [v for _, v in b.labels], rtol=1e-5)


def test_int8_and_softmax_are_refused_for_regression(tmp_path):
    source = SourceRequest(spec="linear-regression").resolve()
    with pytest.raises(ZooError, match="--int8 needs a classifier"):
        quick_export(source, tmp_path / "out", 4, formats=("onnx",), precisions=("int8",))
    assert list(tmp_path.iterdir()) == []


def bench_bf16() -> bool:
    """Whether the bf16 rows run here (a CPU with native bf16)."""
    from zoo.machine import native_bf16

    return native_bf16()


def bench_json(tmp_path: Path, *args: str) -> tuple[object, dict]:
    result = invoke("bench", *args, *QUICK_BENCH, "--report", str(tmp_path / "bench.json"))
    return result, json.loads((tmp_path / "bench.json").read_text())


def test_bench_reports_accuracy_and_size_per_backend_and_min_accuracy_gates(
    digits_export, tmp_path
):
    result, data = bench_json(tmp_path, str(digits_export), "--batch-sizes", "1,4")
    assert result.exit_code == 0, result.output
    expected = ["eager", "onnxruntime", "onnxruntime-int8", "onnxruntime-fp16"]
    expected += ["openvino"] if OPENVINO else []
    bf16 = [] if not bench_bf16() else ["eager-bf16", *(["openvino-bf16"] if OPENVINO else [])]
    rows = [row["backend"] for row in data["backends"]]
    assert [r for r in rows if not r.endswith("bf16")] == expected and set(rows) - set(
        expected
    ) == set(bf16)
    top1 = {row["backend"]: row["top1"]["value"] for row in data["backends"]}
    assert all(value is not None and value > 0.8 for value in top1.values())
    assert top1["onnxruntime"] == top1["eager"]  # identical top-1 is part of parity
    samples = {row["backend"]: row["top1"]["samples"] for row in data["backends"]}
    assert set(samples.values()) == {256}  # every sample, whatever --max-time said
    sizes = {row["backend"]: row["bytes"] for row in data["backends"]}
    assert sizes["eager"] is None and sizes["onnxruntime-int8"] < sizes["onnxruntime"] / 2
    assert {row["backend"] for row in data["latency"]} == set(expected) | set(bf16)
    assert data["passed"] and "real test samples of digits" in data["inputs"]
    int8 = next(row for row in data["parity"] if row["backend"] == "onnxruntime-int8")
    assert int8["tolerance_used"] is None
    assert int8["tolerance"] == (
        "int8: top-1 at most 1 below float32 (in points) on 359 samples at export"
    )
    assert "top-1" in result.output and "onnxruntime-int8" in result.output
    low = invoke("bench", str(digits_export), "--batch-sizes", "1", *QUICK_BENCH)
    assert low.exit_code == 0
    high = invoke(
        "bench", str(digits_export), "--batch-sizes", "1", "--min-accuracy", "99.9", *QUICK_BENCH
    )  # the accuracy sample is whole however short the timing: 256 samples
    assert high.exit_code == 1 and "top-1 below --min-accuracy 99.9" in high.output
    assert "n=256" in " ".join(high.output.split())


def test_min_accuracy_needs_labelled_data(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))  # empty: CIFAR-10 is not here
    with pytest.raises(ZooError, match="--min-accuracy needs labelled test data"):
        invoke("bench", "cifar10-tinycnn", "--dataset", "cifar10", "--min-accuracy", "50")
    named = "--data-dir .*: cifar10 is missing"  # a folder named that lacks the data: said so
    with pytest.raises(ZooError, match=named):
        invoke("bench", "cifar10-tinycnn", "--dataset", "cifar10", "--data-dir", str(tmp_path))


@pytest.mark.skipif(not OPENVINO, reason="openvino is not installed (the 'openvino' extra)")
def test_openvino_backend_runs_the_onnx_file(digits_export, tmp_path):
    result, data = bench_json(
        tmp_path, str(digits_export), "--backends", "openvino", "--batch-sizes", "2"
    )
    assert result.exit_code == 0, result.output
    (row,) = data["parity"]
    assert row["backend"] == "openvino" and row["passed"] and row["top1_agreement"] == 1.0
    assert [(r["backend"], r["batch"]) for r in data["latency"]] == [("openvino", 2)]
    assert "openvino" in data["environment"]["versions"]
    settings = data["environment"]["precision settings"]["openvino (cpu)"]
    assert settings == "INFERENCE_PRECISION_HINT f32"  # whatever the CPU's default


def test_openvino_is_skipped_with_a_reason_when_absent(monkeypatch, digits_export, tmp_path):
    monkeypatch.setattr(openvino, "missing", lambda: "openvino is not installed (test)")
    result, data = bench_json(tmp_path, str(digits_export), "--batch-sizes", "1")
    assert result.exit_code == 0
    skipped = {(s["backend"], s["reason"]) for s in data["skipped"]}
    assert ("openvino", "openvino is not installed (test)") in skipped
    asked = "--backends openvino cannot run on cpu: openvino is not installed"
    with pytest.raises(ZooError, match=asked):  # asked for by name: an error, not a skip
        invoke("bench", str(digits_export), "--backends", "eager,openvino", *QUICK_BENCH)


def test_bench_of_one_backend_still_checks_parity_against_eager(digits_export, tmp_path):
    result, data = bench_json(
        tmp_path, str(digits_export), "--backends", "onnxruntime", "--batch-sizes", "1"
    )
    assert result.exit_code == 0, result.output
    assert [row["backend"] for row in data["parity"]] == ["onnxruntime"]
    assert [row["backend"] for row in data["latency"]] == ["onnxruntime"]


def test_fixed_batch_export_is_benched_at_its_own_batch(tmp_path):
    out = tmp_path / "export"
    result = invoke(
        "export", "mnist-logreg", "--batch", "4", "--onnx", "--torchscript", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    result, data = bench_json(tmp_path, str(out))
    assert result.exit_code == 0, result.output
    timed = {(row["backend"], row["batch"]) for row in data["latency"]}
    assert {("eager", 4), ("onnxruntime", 4), ("torchscript", 4)} <= timed
    assert {batch for _, batch in timed} == {4} and not any(
        "batch 4 only" in s["reason"] for s in data["skipped"]
    )


def test_run_directory_lends_its_data_directory_to_export_and_bench(tmp_path):
    images, _, labels = normalised_split("digits", True)
    test_images, _, test_labels = normalised_split("digits", False)
    data = tmp_path / "folder"
    for split, pixels, targets in (("train", images, labels), ("test", test_images, test_labels)):
        for index in range(0, len(pixels), 6):  # a sixth of digits, as PNG files
            folder = data / split / f"digit{int(targets[index])}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels[index, 0].numpy()).save(folder / f"{index}.png")
    run = trained_run(tmp_path / "run", "mnist-logreg", "imagefolder", steps=30, data_dir=str(data))
    result = invoke("export", str(run), "--onnx", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    manifest = manifest_of(tmp_path / "out")
    assert "real test samples of imagefolder" in manifest["verification"]["inputs"]
    assert manifest["files"][0]["facts"]["accuracy"]["checked"]
    result, bench_data = bench_json(tmp_path, str(run), "--backends", "onnxruntime")
    assert result.exit_code == 0, result.output
    assert "real test samples of imagefolder" in bench_data["inputs"]
    assert bench_data["backends"][0]["top1"] is not None


def test_predict_accepts_an_export_directory(digits_export, tmp_path):
    images = write_digits(tmp_path, 2)
    from_directory = Predictor(digits_export)
    assert from_directory.path.name == "cifar10-tinycnn.onnx"
    file = Predictor(digits_export / "cifar10-tinycnn.onnx").predict(images)
    assert [p.labels for p in from_directory.predict(images)] == [p.labels for p in file]
    with pytest.raises(ZooError, match="not a 'zoo export' directory"):
        Predictor(tmp_path)


def test_an_opset_the_exporter_cannot_write_is_one_clear_error(tmp_path):
    result = run_zoo("export", "mnist-logreg", "--opset", "3", "--out", str(tmp_path / "x"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: --opset 3 is not supported: the ONNX exporter writes opsets 18")
    assert not (tmp_path / "x").exists()
    source = SourceRequest(spec="cifar10-tinycnn", input_shape=(1, 8, 8), num_classes=3).resolve()
    with pytest.raises(ExportError, match="to ONNX opset 13: the exporter fell back to opset 18"):
        quick_export(source, tmp_path / "y", 4, formats=("onnx",), opset=13)
    assert not (tmp_path / "y").exists()


@pytest.mark.parametrize("sizes", ["0", "-4", "1,x", "2,,0", ","])
def test_bad_batch_sizes_are_one_line_and_exit_2(sizes):
    result = run_zoo("bench", "mnist-logreg", "--batch-sizes", sizes)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: --batch-sizes takes comma-separated positive integers, not '{sizes}'"
    ]


def test_max_time_bounds_the_wall_time_of_the_timing():
    calls = {name: (lambda: sum(range(50))) for name in ("a", "b", "c")}
    start = time.perf_counter()
    times = bench.interleaved(calls, iterations=10**9, min_seconds=100.0, budget=0.5)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5 + 3 * (bench.SETTLE_SECONDS + 0.05)  # one settle and call late at most
    assert all(len(t.times) >= bench.MIN_TIMINGS for t in times.values())
    assert all(len(t.rounds) >= 2 for t in times.values())  # interleaved in rounds
    slow = {"slow": lambda: time.sleep(0.2)}
    times = bench.interleaved(slow, iterations=100, min_seconds=10.0, budget=0.0)
    assert len(times["slow"].times) == bench.MIN_TIMINGS  # past the budget: only the minimum


def test_bench_feeds_pixels_to_an_embedded_export_and_compares_probabilities(
    embedded_export, tmp_path
):
    result, data = bench_json(tmp_path, str(embedded_export), "--batch-sizes", "1")
    assert result.exit_code == 0, result.output
    parity = {row["backend"]: row for row in data["parity"]}
    assert parity["onnxruntime"]["passed"] and parity["onnxruntime"]["max_abs"] < 1e-5
    assert parity["onnxruntime-int8"]["passed"]
    top1 = {row["backend"]: row["top1"]["value"] for row in data["backends"]}
    assert top1["onnxruntime"] == top1["eager"] > 0.8


@pytest.mark.skipif(not OPENVINO, reason="openvino is not installed (the 'openvino' extra)")
def test_openvino_computes_in_float32_whatever_the_cpu_default(digits_export):
    """On CPUs with native bf16 (AVX512_BF16, AMX) OpenVINO's default precision is bfloat16; the
    float32 row must pin float32, which its effective setting shows on every CPU."""
    import openvino as ov

    from zoo.export import runtimes

    onnx_file = next(p for p in digits_export.glob("*.onnx") if p.name.count(".") == 1)
    compiled = runtimes.openvino_compile(onnx_file, (2, 1, 8, 8), threads=1, precision="fp32")
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
