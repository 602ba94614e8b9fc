"""`zoo bench`: parity and latency across backends, skipped backends explained, CI-friendly exit."""

from __future__ import annotations

import json

import pytest
import torch
from export_support import BUILTIN_MODELS, ONNX_ONLY, exported
from typer.testing import CliRunner

import zoo
from zoo.cli import app
from zoo.export import bench, report
from zoo.export.source import load_samples
from zoo.export.verify import FP32

QUICK = {"iterations": 3, "min_seconds": 0.0, "max_seconds": 0.05}
OPENVINO = bench.openvino_missing() is None


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_every_backend_agrees_with_eager_and_is_timed(name, tmp_path_factory):
    export = exported(name, tmp_path_factory)
    files = bench.float32_files(
        {
            fmt: export.file(fmt)
            for fmt in ("onnx", "torchscript", "exported-program")
            if fmt == "onnx" or name not in ONNX_ONLY
        }
    )
    samples = load_samples(export.source, 4 if name in ONNX_ONLY else 24)
    result = bench.bench(export.source, files, samples, batch_sizes=(1, 3), threads=1, **QUICK)
    expected = (
        ["onnxruntime"] if name in ONNX_ONLY else ["torchscript", "exported-program", "onnxruntime"]
    ) + (["openvino"] if OPENVINO else [])
    assert [row["backend"] for row in result.parity] == expected
    for row in result.parity:
        # parity takes whole chunks until half of max_seconds is spent: at least one
        assert min(len(samples.inputs), bench.PARITY_CHUNK) <= row["count"] <= len(samples.inputs)
        assert row["passed"] and row["tolerance_used"] <= 1
        assert row["top1_agreement"] in (1.0, None) and row["max_abs"] < 1e-3
    timed = {(row.backend, row.batch) for row in result.latency}
    assert timed == {(backend, batch) for backend in ["eager", *expected] for batch in (1, 3)}
    for row in result.latency:
        assert 0 < row.p50_ms <= row.p90_ms <= row.p99_ms and row.iterations >= 1
        assert row.samples_per_s == pytest.approx(row.batch * 1000 / row.p50_ms)
        assert row.speedup_vs_eager == 1.0 if row.backend == "eager" else row.speedup_vs_eager > 0
    assert result.passed and result.threads == 1


def test_cuda_backends_are_skipped_with_a_reason_without_a_gpu(tmp_path_factory):
    export = exported(BUILTIN_MODELS[0], tmp_path_factory)
    samples = load_samples(export.source, 4)
    result = bench.bench(
        export.source,
        bench.float32_files({"onnx": export.file("onnx")}),
        samples,
        backends=("eager", "onnxruntime"),
        devices=("cpu", "cuda"),
        batch_sizes=(2,),
        **QUICK,
    )
    cuda = {s["backend"]: s["reason"] for s in result.skipped if "(cuda)" in s["backend"]}
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the CUDA backends run")
    assert set(cuda) == {"eager (cuda)", "onnxruntime (cuda)"}
    assert all("no CUDA device" in reason for reason in cuda.values())
    assert {(row.backend, row.device) for row in result.latency} == {
        ("eager", "cpu"),
        ("onnxruntime", "cpu"),
    }


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
        "--samples",
        "8",
        "--iterations",
        "3",
        "--min-time",
        "0",
        "--max-time",
        "0.05",
    ]
    result = runner.invoke(
        app, [*args, "--json", str(tmp_path / "b.json"), "--markdown", str(tmp_path / "b.md")]
    )
    assert result.exit_code == 0, result.output
    assert "parity: pass" in result.output
    data = json.loads((tmp_path / "b.json").read_text())
    assert (
        data["passed"]
        and data["model"] == "drift-net"
        and data["tolerance"] == {"atol": 1e-5, "rtol": 1e-5, "rule": FP32.describe()}
    )
    backends = 4 + OPENVINO  # eager, the three formats, openvino on the ONNX file
    assert len(data["parity"]) == backends - 1 and len(data["latency"]) == 2 * backends
    markdown = (tmp_path / "b.md").read_text()
    assert "| 2 | onnxruntime | cpu |" in markdown and "| exported-program | cpu |" in markdown


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
            parity=[
                {
                    "backend": "onnxruntime",
                    "device": "cpu",
                    "max_abs": 0.5,
                    "max_rel": 1.0,
                    "tolerance_used": 5e4,
                    "top1_agreement": 1.0,
                    "passed": False,
                }
            ],
        )
    )
    assert "| onnxruntime | cpu | 5.00e-01 | 1.00e+00 | 50000.000 | 100.00% | FAIL |" in markdown


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
