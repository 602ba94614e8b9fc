"""OpenVINO IR as an export format: written by openvino.save_model (.xml + .bin), verified against
eager with OpenVINO's CPU plugin, certified, checked by zoo verify and benched; its int8 file
quantised by NNCF on real training-split digits (a CNN really trained for a few hundred steps)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import zoo_here
from export_support import trained_run

from zoo.artifacts.manifest import NNCF, Manifest, from_props
from zoo.export.formats import FORMATS
from zoo.export.formats import openvino as ir
from zoo.export.options import ExportRequest

pytestmark = pytest.mark.skipif(ir.missing() is not None, reason="openvino is not installed")
QUICK_BENCH = ["--iterations", "2", "--min-time", "0", "--max-time", "0.3"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_run(tmp_path_factory.mktemp("runs") / "tinycnn", "cifar10-tinycnn", steps=150)


@pytest.fixture(scope="module")
def ir_export(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "ir"
    result = zoo_here("export", str(run), "--openvino", "--int8", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_ir_and_its_nncf_int8_file_are_verified_certified_and_listed_with_their_weights(ir_export):
    manifest = Manifest.read(ir_export)
    assert [(f.format, f.precision) for f in manifest.files] == [
        ("openvino", "fp32"),
        ("openvino", "int8"),
    ]  # --openvino with --int8 derives from the IR: no ONNX file needed
    fp32, int8 = manifest.files
    assert fp32.path == "cifar10-tinycnn.xml" and int8.path == "cifar10-tinycnn.int8.xml"
    assert [c.path for c in fp32.companions] == ["cifar10-tinycnn.bin"]
    assert fp32.total_bytes > fp32.bytes
    assert fp32.verification.passed and fp32.verification.max_abs < 1e-4
    assert int8.facts.quantisation.startswith(NNCF)
    assert "accuracy control" in int8.facts.quantisation  # labelled calibration images
    assert int8.facts.calibration is not None and int8.facts.calibration.real
    assert int8.facts.accuracy is not None and int8.facts.accuracy.top1 is not None
    assert int8.facts.accuracy.drop_points <= 1.0
    assert int8.bytes + int8.companions[0].bytes < fp32.total_bytes
    # the metadata travels inside the IR, certificate included, as in an ONNX file
    carried = from_props(FORMATS["openvino"].read_props(ir_export / int8.path), "ir")
    assert carried.facts.precision == "int8"
    assert carried.certificate is not None and "openvino" in carried.certificate.runtime
    assert carried.card.model == "cifar10-tinycnn"


def test_verify_rechecks_the_ir_and_fails_when_its_weights_file_changes(ir_export, tmp_path):
    result = zoo_here("verify", str(ir_export))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "openvino int8" in result.stdout
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in ir_export.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    weights = copy / "cifar10-tinycnn.bin"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    result = zoo_here("verify", str(copy))
    assert result.returncode == 1
    assert "cifar10-tinycnn.bin differs from its manifest" in result.stdout


def test_bench_runs_the_ir_files_of_an_export(ir_export, tmp_path):
    report = tmp_path / "bench.json"
    result = zoo_here("bench", str(ir_export), *QUICK_BENCH, "--report", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["backend"]: row for row in json.loads(report.read_text())["parity"]}
    assert rows["openvino-ir"]["passed"] and rows["openvino-ir-int8"]["passed"]


def test_openvino_not_installed_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(ir.importlib.util, "find_spec", lambda name: None)
    result = zoo_here("export", "mnist-logreg", "--openvino", "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "--openvino: openvino is not installed" in result.stderr


def test_the_ir_is_not_a_default_format_and_int8_alone_still_means_onnx():
    assert "openvino" not in [f.name for f in ExportRequest().wanted]
    assert [f.name for f in ExportRequest(formats=("openvino",), precisions=("fp16",)).wanted] == [
        "onnx",
        "openvino",
    ]  # float16 is derived from ONNX only
