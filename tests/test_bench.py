"""`zoo bench`: parity and latency across backends, skipped backends explained, CI-friendly exit."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from export_support import BUILTIN_MODELS, ONNX_ONLY, exported, source_samples
from typer.testing import CliRunner

import zoo
from zoo.artifacts.manifest import FileFacts, Parity
from zoo.cli.app import app
from zoo.export import bench, report
from zoo.export.backends.openvino import missing as openvino_missing
from zoo.export.options import BenchRequest
from zoo.export.precisions import PRECISIONS

QUICK = BenchRequest(iterations=3, min_time=0.0, max_time=0.05, threads=1)
OPENVINO = openvino_missing() is None
FP32_ROWS = ("eager", "torchscript", "exported-program", "onnxruntime", "openvino")


def float32_files(paths: dict[str, object]) -> bench.BenchFiles:
    """Plain float32 files taking normalised input, as bench runs them."""
    return bench.BenchFiles(
        {(fmt, "fp32"): (path, FileFacts()) for fmt, path in paths.items()}, None, {}
    )


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_every_backend_agrees_with_eager_and_is_timed(name, tmp_path_factory):
    export = exported(name, tmp_path_factory)
    files = float32_files(
        {
            fmt: export.file(fmt)
            for fmt in ("onnx", "torchscript", "exported-program")
            if fmt == "onnx" or name not in ONNX_ONLY
        }
    )
    samples = source_samples(export.source, 4 if name in ONNX_ONLY else 24)
    request = dataclasses.replace(QUICK, batch_sizes=(1, 3))
    names = tuple(n for n in FP32_ROWS if n != "openvino" or OPENVINO)
    result = bench.bench(export.source, files, samples, request, names)
    expected = (
        ["onnxruntime"] if name in ONNX_ONLY else ["torchscript", "exported-program", "onnxruntime"]
    ) + (["openvino"] if OPENVINO else [])
    assert [row.backend for row in result.parity] == expected
    for row in result.parity:
        # parity and accuracy always take every sample, whatever the time budget
        assert row.parity.count == len(samples) + 0
        assert row.passed and row.parity.tolerance_used <= 1 and row.precision == "fp32"
        assert row.parity.top1_agreement in (1.0, None) and row.parity.max_abs < 1e-3
    timed = {(row.backend, row.batch) for row in result.latency}
    assert timed == {(backend, batch) for backend in ["eager", *expected] for batch in (1, 3)}
    for row in result.latency:
        assert 0 < row.p50_ms <= row.p90_ms <= row.p99_ms and row.iterations >= 1
        assert row.samples_per_s == pytest.approx(row.batch * 1000 / row.p50_ms)
        assert row.speedup_vs_eager == 1.0 if row.backend == "eager" else row.speedup_vs_eager > 0
    assert result.passed and result.threads == 1
    assert result.environment is not None and result.environment.versions["torch"]
    machine = result.to_json()["environment"]["machine"]  # the JSON report keeps its keys
    assert machine["cpu"] and "native_bf16" in machine


def test_a_device_asked_for_that_is_not_there_is_one_line_and_exit_2(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: --device cuda runs")
    result = CliRunner().invoke(
        app, ["bench", "mnist-logreg", "--device", "cuda", "--max-time", "0.05"]
    )
    assert "--device cuda: no CUDA GPU is available here" in str(result.exception)


@pytest.fixture
def drift_net():
    def build(offset: float):
        @zoo.register_model("drift-net")
        def drift_net(num_classes: int = 4) -> torch.nn.Module:
            linear = torch.nn.Linear(5, num_classes)
            torch.nn.init.constant_(linear.bias, offset)
            return linear

    yield build
    zoo.reload_registry()


def test_bench_command_of_an_export_dir_writes_json_and_markdown(drift_net, tmp_path):
    drift_net(0.0)
    runner = CliRunner()
    assert (
        runner.invoke(
            app, ["export", "drift-net", "--input-shape", "5", "--out", str(tmp_path / "export")]
        ).exit_code
        == 0
    )
    args = [
        "bench",
        str(tmp_path / "export"),
        "--batch-sizes",
        "1,2",
        "--test-samples",
        "8",
        "--iterations",
        "3",
        "--min-time",
        "0",
        "--max-time",
        "0.05",
    ]
    result = runner.invoke(
        app, [*args, "--report", str(tmp_path / "b.json"), "--report", str(tmp_path / "b.md")]
    )
    assert result.exit_code == 0, result.output
    assert "parity: pass" in result.output
    data = json.loads((tmp_path / "b.json").read_text())
    assert (
        data["passed"]
        and data["model"] == "drift-net"
        and data["tolerance"]["fp32"] == PRECISIONS["fp32"].rule
    )
    fp32 = 4 + OPENVINO  # eager, the three formats, openvino on the ONNX file
    rows = {row["backend"] for row in data["latency"]}
    assert {"eager", "torchscript", "exported-program", "onnxruntime"} <= rows
    assert len([r for r in data["parity"] if r["precision"] == "fp32"]) == fp32 - 1
    markdown = (tmp_path / "b.md").read_text()
    assert (
        "| 2 | onnxruntime | cpu |" in markdown and "| exported-program | cpu | fp32 |" in markdown
    )
    printed = runner.invoke(app, [*args, "--json"])
    assert printed.exit_code == 0 and json.loads(printed.output)["model"] == "drift-net"


def test_bench_exits_1_when_the_model_no_longer_matches_its_export(drift_net, tmp_path):
    drift_net(0.0)
    runner = CliRunner()
    assert (
        runner.invoke(
            app, ["export", "drift-net", "--input-shape", "5", "--onnx", "--out", str(tmp_path)]
        ).exit_code
        == 0
    )
    drift_net(0.5)  # the model's code changed since the export
    result = runner.invoke(
        app,
        [
            "bench",
            str(tmp_path),
            "--backends",
            "eager,onnxruntime",
            "--batch-sizes",
            "1",
            "--iterations",
            "3",
            "--min-time",
            "0",
            "--max-time",
            "0.05",
        ],
    )
    assert result.exit_code == 1
    assert "parity: FAIL" in result.output
    markdown = report.markdown(
        bench.BenchResult(
            "drift-net",
            "export",
            1,
            "8 random inputs",
            8,
            parity=[
                bench.ParityRow(
                    "onnxruntime",
                    "cpu",
                    "fp32",
                    Parity("onnxruntime", 8, 0.5, 1.0, 5e4, 1.0, False, "rule"),
                )
            ],
        )
    )
    assert (
        "| onnxruntime | cpu | fp32 | 5.00e-01 | 1.00e+00 | 50000.000 | 100.00% | FAIL |"
        in markdown
    )


def test_bench_of_a_model_name_exports_to_a_scratch_dir(drift_net, tmp_path, monkeypatch):
    drift_net(0.0)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "drift-net",
            "--input-shape",
            "5",
            "--backends",
            "eager,exported-program",
            "--batch-sizes",
            "2",
            "--iterations",
            "3",
            "--min-time",
            "0",
            "--max-time",
            "0.05",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "exported-program" in result.output and "fresh weights" in result.output
    assert list(tmp_path.iterdir()) == []  # the export went to a scratch directory, now gone
