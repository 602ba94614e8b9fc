"""zoo optimize end to end on a CNN really trained on scikit-learn's digits: real files (ONNX,
OpenVINO IR, ExportedProgram, ONNX Runtime's and NNCF's int8 files), really timed side by side.
The decision's invariants are checked on the real measured candidates: nothing slower than
ONNX Runtime float32 is chosen, nothing over the budget, and the confirmation sample is not the
selection sample."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import zoo_here
from export_support import trained_run

from zoo.artifacts.decision import CHOSEN, SKIPPED
from zoo.artifacts.manifest import Manifest
from zoo.export.optimize import rule

QUICK = ["--time-budget", "2", "--selection-samples", "150", "--confirmation-samples", "200"]
MAX_DROP = 2.0


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_run(tmp_path_factory.mktemp("runs") / "tinycnn", "cifar10-tinycnn", steps=150)


@pytest.fixture(scope="module")
def optimized(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("optimize") / "best"
    result = zoo_here("optimize", str(run), *QUICK, "--max-drop", str(MAX_DROP), "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "runs:" in result.stdout and f"written: {out}" in result.stdout
    return out


def test_the_decision_holds_to_its_rules_on_real_measured_candidates(optimized):
    decision = Manifest.read(optimized).decision
    assert decision is not None and decision.accuracy_measured
    by_name = {c.name: c for c in decision.candidates}
    chosen, baseline = by_name[decision.chosen], by_name[decision.baseline]
    assert chosen.status == CHOSEN and decision.baseline.startswith("onnxruntime, ")
    assert chosen.confirmed_drop is not None and chosen.confirmed_drop.value <= MAX_DROP
    assert chosen.drop is not None and chosen.drop <= MAX_DROP
    if decision.chosen != decision.baseline:  # faster than ORT float32 beyond the noise
        assert rule.beats(chosen.timing, baseline.timing)
        assert chosen.timing.p50_ms < baseline.timing.p50_ms
    kinds = {(c.runtime, c.precision) for c in decision.candidates}
    assert {("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("torch", "fp32")} <= kinds
    assert {("openvino", "fp32"), ("openvino", "int8")} <= kinds
    variants = {c.name.split(",")[0] for c in decision.candidates}
    assert {"onnxruntime-int8 (static per-channel)", "onnxruntime-int8 (static per-tensor)"} <= (
        variants
    )

    def same_file(record) -> tuple:
        return record.runtime, record.format, record.precision, record.variant

    for record in decision.candidates:
        if record.status != SKIPPED:
            assert record.timing is not None and record.parity_passed is not None
            variants = [c for c in decision.candidates if same_file(c) == same_file(record)]
            can_win = any(rule.beats(c.timing, baseline.timing) for c in variants if c.timing)
            # accuracy is measured exactly where it can change the decision
            assert (record.selection is not None) == (
                can_win or same_file(record) == same_file(baseline)
            )
            if record.selection is None:
                assert "slower than" in record.reason or "within the noise" in record.reason
        if record.status != CHOSEN:
            assert record.reason  # why it lost, or why it could not run
    # the two samples: different items of the test split, each named in the record
    assert "selection sample" in decision.selection
    assert "confirmation sample" in decision.confirmation
    assert chosen.confirmation.samples == 200 and chosen.selection.samples == 150


def test_the_chosen_file_is_certified_predicted_verified_and_benched(optimized, tmp_path):
    manifest = Manifest.read(optimized)
    run_with = manifest.decision.run
    (entry,) = manifest.files
    assert entry.path == run_with.file and entry.certificate is not None
    assert entry.facts.accuracy is not None and entry.facts.accuracy.top1 is not None
    verify = zoo_here("verify", str(optimized), "--data-dir", str(tmp_path))  # digits: bundled
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "decision: " in verify.stdout
    # top-1 again on the confirmation sample, with the chosen runtime: the same figure
    assert "top-1 measured again on the confirmation sample, 200 of" in verify.stdout
    info = zoo_here("info", str(optimized))
    assert info.returncode == 0 and manifest.decision.summary in info.stdout
    from zoo.predict.onnx import Predictor

    predictor = Predictor(optimized)
    assert predictor.path.name == run_with.file and predictor.runs == run_with
    report = tmp_path / "bench.json"
    bench = zoo_here(
        "bench",
        str(optimized),
        "--iterations",
        "2",
        "--min-time",
        "0",
        "--max-time",
        "0.3",
        "--report",
        str(report),
        "--json",
    )
    assert bench.returncode == 0, bench.stdout + bench.stderr
    assert json.loads(bench.stdout)["decision"]["chosen"] == manifest.decision.chosen


def test_a_second_run_refuses_the_same_out_and_an_interrupt_leaves_nothing(
    optimized, run, monkeypatch, tmp_path
):
    again = zoo_here("optimize", str(run), *QUICK, "--out", str(optimized))
    assert again.returncode == 2 and "pass --force to replace it whole" in again.stderr

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rule, "decide", interrupt)
    out = tmp_path / "interrupted"
    result = zoo_here("optimize", str(run), *QUICK, "--out", str(out))
    assert result.returncode == 130
    assert os.listdir(tmp_path) == []  # no output, no staging or scratch directory


def test_no_labelled_data_is_one_line_and_random_inputs_say_accuracy_was_not_measured(tmp_path):
    missing = tmp_path / "empty"  # a folder without the dataset's files
    missing.mkdir()
    result = zoo_here(
        "optimize", "mnist-logreg", "--data-dir", str(missing), "--out", str(tmp_path / "o")
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--data-dir" in result.stderr and "--allow-random-inputs" in result.stderr
    out = tmp_path / "random"
    result = zoo_here(
        "optimize",
        "mnist-logreg",
        "--data-dir",
        str(missing),
        "--allow-random-inputs",
        *QUICK,
        "--out",
        str(out),
        "--device",
        "cuda",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    decision = Manifest.read(out).decision
    assert not decision.accuracy_measured and decision.metric.startswith("top-1 agreement")
    assert any("accuracy was not measured" in note for note in decision.notes)
    names = {c.name.split(",")[0] for c in decision.candidates}
    assert "onnxruntime-int8 (dynamic)" in names  # Linear-only: dynamic quantisation too
    import torch

    if not torch.cuda.is_available():
        assert any(line.startswith("--device cuda: no CUDA GPU") for line in decision.skipped)


def test_predict_runs_a_pytorch_file_a_decision_chose_with_torch_only_then(tmp_path):
    import dataclasses

    from test_optimize_rule import decision

    from zoo.cli.predict import torch_opener
    from zoo.errors import ZooError
    from zoo.files import write_json
    from zoo.predict.onnx import Predictor

    out = tmp_path / "ep"
    result = zoo_here("export", "mnist-logreg", "--exported-program", "--out", str(out))
    assert result.returncode == 0, result.stderr
    manifest = Manifest.read(out)
    (entry,) = manifest.files
    chosen = decision()
    run = dataclasses.replace(
        chosen.run, file=entry.path, format="exported-program", runtime="torch"
    )
    write_json(
        out / "manifest.json",
        dataclasses.replace(manifest, decision=dataclasses.replace(chosen, run=run)).to_json(),
    )
    with pytest.raises(ZooError, match="chose a PyTorch file"):
        Predictor(out)  # this module never loads torch itself
    predictor = Predictor(out, torch_opener=torch_opener(str(out)))
    rows = predictor.run(np.zeros((3, *predictor.card.input_shape), np.float32))
    assert rows.shape == (3, len(predictor.card.classes)) and predictor.runs == run


def test_an_onnx_file_a_decision_runs_with_openvino_is_predicted_and_served_alike(tmp_path):
    """A decision may run the float32 ONNX file with OpenVINO (bench's openvino row): predict
    reads the card from the file's metadata as OpenVINO reads it and answers as ONNX Runtime
    does; serve picks the same file, runtime and threads (zoo.deployed.chosen, for both)."""
    pytest.importorskip("openvino")
    import dataclasses

    from test_optimize_rule import decision

    from zoo.files import write_json
    from zoo.predict.onnx import Predictor
    from zoo.serve.sources import checked

    out = tmp_path / "onnx"
    result = zoo_here("export", "mnist-logreg", "--out", str(out))
    assert result.returncode == 0, result.stderr
    manifest = Manifest.read(out)
    plain = Predictor(out)
    settings = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    chosen = decision()
    run = dataclasses.replace(
        chosen.run, file=plain.path.name, runtime="openvino", threads=1, settings=settings
    )
    decided = dataclasses.replace(manifest, decision=dataclasses.replace(chosen, run=run))
    write_json(out / "manifest.json", decided.to_json())
    predictor = Predictor(out)
    assert predictor.runs == run and predictor.card == plain.card
    rows = np.random.default_rng(5).random((3, *plain.card.input_shape), np.float32)
    np.testing.assert_allclose(predictor.run(rows), plain.run(rows), rtol=1e-4, atol=1e-5)
    served = checked("logreg", out, Manifest.read(out), None, "auto")
    assert (served.path, served.runtime, served.threads) == (predictor.path, "openvino", 1)
    assert served.settings == settings and served.name == plain.card.model
