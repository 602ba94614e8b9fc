"""`zoo export`: every built-in model to every format, verified, with metadata; clear failures."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import run_zoo
from export_support import BUILTIN_MODELS, ONNX_ONLY, exported, quick_export, read_metadata
from safetensors.torch import save_file
from torch import nn
from typer.testing import CliRunner

import zoo
from zoo.cli.app import app
from zoo.export import runtimes
from zoo.export.failures import ExportError, VerificationError
from zoo.export.formats import FORMATS
from zoo.export.precisions import ATOL, RTOL
from zoo.sources import SourceRequest


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def tiny_net():
    """A small CNN registered in-process, the way a plugin model would be."""

    @zoo.register_model("tiny-export-net")
    def tiny_export_net(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(in_channels, 4, 3),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(16, num_classes),
        )

    yield "tiny-export-net"
    zoo.reload_registry()


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_builtin_model_exports_verified_with_metadata(name, tmp_path_factory):
    export = exported(name, tmp_path_factory)
    manifest, card = export.manifest, export.manifest.card
    expected = (
        ("onnx",) if name in ONNX_ONLY else tuple(f.name for f in FORMATS.values() if f.default)
    )
    assert [f.format for f in manifest.files] == list(expected)
    assert sorted(p.name for p in export.directory.iterdir()) == sorted(
        [f.path for f in manifest.files] + ["manifest.json", "verification.npz"]
    )
    assert card.model == name and card.weights_sha256 == ""  # fresh, seeded weights
    assert manifest.export.batch == "dynamic" and manifest.export.weights_file == ""
    assert card.torch_version == torch.__version__ and card.zoo_version == zoo.__version__
    assert len(card.classes) >= 1 and card.input_shape == export.source.input_shape
    for entry in manifest.files:
        path = export.directory / entry.path
        assert entry.sha256 == sha256(path) and entry.bytes == path.stat().st_size
        check = entry.verification
        assert check.passed and check.count == 9  # 8 inputs as one batch, then one alone
        assert check.tolerance_used <= 1 and check.max_abs <= ATOL + RTOL * 100
        stored = read_metadata(entry.format, path)
        assert stored.card == export.source.card and stored.info.batch == "dynamic"
        assert stored.facts.precision == "fp32" and stored.facts.input == "normalised"


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_builtin_onnx_passes_the_full_checker_and_has_a_dynamic_batch(name, tmp_path_factory):
    export = exported(name, tmp_path_factory)
    proto = onnx.load(str(export.file("onnx")))
    onnx.checker.check_model(proto, full_check=True)
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value
    assert {p.key for p in proto.metadata_props} >= {
        "model",
        "classes",
        "input_shape",
        "mean",
        "std",
        "opset",
    }
    session = runtimes.onnx_session(export.file("onnx"), optimisation="basic")
    inputs = (
        np.random.default_rng(1).standard_normal((3, *export.source.input_shape)).astype(np.float32)
    )
    with torch.no_grad():
        eager = export.source.model()(torch.from_numpy(inputs)).numpy()
    assert np.allclose(runtimes.onnx_runner(session)(inputs), eager, atol=ATOL, rtol=RTOL)


def write_checkpoint(run_dir: Path, model: nn.Module, name: str) -> Path:
    """A run directory in the training engineer's format: config.json and checkpoints/best.*."""
    info = {
        "model": name,
        "model_args": {},
        "dataset": "",
        "dataset_args": {},
        "classes": ["cat", "dog", "fox"],
        "input_shape": [3, 8, 8],
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "task": "classification",
        "output": "logits",
        "epoch": 3,
        "metrics": {"val_accuracy": 0.5},
        "versions": {"torch": torch.__version__},
    }
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"model": name}))
    weights = run_dir / "checkpoints" / "best.safetensors"
    save_file(model.state_dict(), str(weights), metadata={"zoo": json.dumps(info)})
    (run_dir / "checkpoints" / "best.json").write_text(json.dumps(info))
    return weights


def test_run_directory_exports_the_trained_weights_and_their_hash(tiny_net, tmp_path):
    trained = zoo.create_model(tiny_net, num_classes=3, in_channels=3)
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.add_(torch.linspace(-1, 1, parameter.numel()).reshape(parameter.shape))
    weights = write_checkpoint(tmp_path / "run", trained, tiny_net)
    source = SourceRequest(spec=str(tmp_path / "run")).resolve()
    manifest = quick_export(source, tmp_path / "out", 4, formats=("onnx",))
    stored = read_metadata("onnx", tmp_path / "out" / f"{tiny_net}.onnx")
    card, info = stored.card, stored.info
    assert card.weights_sha256 == sha256(weights) == manifest.card.weights_sha256
    assert card.classes == ("cat", "dog", "fox") and card.preprocessing.mean == (0.5,) * 3
    assert card.input_shape == (3, 8, 8)
    # the export directory is self-contained: a copy of the weights, named, not a path
    copy = tmp_path / "out" / info.weights_file
    assert info.weights_file == f"{tiny_net}.safetensors" and sha256(copy) == sha256(weights)
    props = {
        p.key: p.value for p in onnx.load(str(tmp_path / "out" / f"{tiny_net}.onnx")).metadata_props
    }
    assert not any(str(tmp_path) in value for value in props.values())  # no absolute path
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = trained.eval()(torch.from_numpy(x)).numpy()
    session = runtimes.onnx_session(tmp_path / "out" / f"{tiny_net}.onnx")
    assert np.allclose(runtimes.onnx_runner(session)(x), expected, atol=1e-5, rtol=1e-5)


def test_fixed_batch_export(tiny_net, tmp_path):
    source = SourceRequest(spec=tiny_net, input_shape=(3, 16, 16), num_classes=4).resolve()
    manifest = quick_export(source, tmp_path, 3, formats=("onnx",), batch=5)
    dim = onnx.load(str(tmp_path / f"{tiny_net}.onnx")).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_value == 5 and manifest.export.batch == "5"
    assert manifest.files[0].verification.count == 5


def test_unsupported_onnx_op_names_the_op_and_format_and_leaves_nothing(tmp_path, capfd):
    @zoo.register_model("cummax-net")
    def cummax_net() -> nn.Module:
        class CumMax(nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return torch.cummax(x, dim=1)[0]

        return nn.Sequential(nn.Linear(6, 6), CumMax())

    source = SourceRequest(spec="cummax-net", input_shape=(6,)).resolve()
    capfd.readouterr()
    with pytest.raises(ExportError) as error:
        quick_export(source, tmp_path, 4, formats=("torchscript", "onnx"))
    message = str(error.value)
    assert "aten::cummax" in message and "ONNX" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []  # the verified TorchScript file is not kept either
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and len(captured.out + captured.err) < 200
    zoo.reload_registry()


def test_data_dependent_branch_fails_export_program_clearly(tmp_path):
    @zoo.register_model("branchy-net")
    def branchy_net() -> nn.Module:
        class Branchy(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.linear = nn.Linear(4, 2)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                y = self.linear(x)
                if y.sum() > 0:
                    return y
                return -y

        return Branchy()

    source = SourceRequest(spec="branchy-net", input_shape=(4,)).resolve()
    with pytest.raises(
        ExportError,
        match=r"to ExportedProgram: data-dependent control flow at test_export.py:\d+ in forward",
    ):
        quick_export(source, tmp_path, 4, formats=("exported-program",))
    assert list(tmp_path.iterdir()) == []
    zoo.reload_registry()


def test_failed_verification_reports_numbers_and_leaves_nothing(tmp_path):
    @zoo.register_model("batch-trap-net")
    def batch_trap_net() -> nn.Module:
        class BatchTrap(nn.Module):  # tracing bakes in the branch taken for the example batch
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return x * 2 if x.shape[0] == 2 else x * 3

        return BatchTrap()

    source = SourceRequest(spec="batch-trap-net", input_shape=(3,)).resolve()
    (tmp_path / "keep.txt").write_text("untouched")
    with pytest.raises(
        VerificationError,
        match=r"TorchScript export .* does not match.*max \|a-b\| [\d.e+-]+.*top-1 agreement",
    ):
        quick_export(source, tmp_path / "out", 6, formats=("torchscript",))
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    zoo.reload_registry()


def test_export_command_writes_every_format_and_reports(tiny_net, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "export",
            tiny_net,
            "--input-shape",
            "3,12,12",
            "--num-classes",
            "5",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "TorchScript is deprecated" in result.output and result.output.count(" ok ") == 3
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {f["format"] for f in manifest["files"]} == {
        f.name for f in FORMATS.values() if f.default
    }
    assert (
        manifest["card"]["classes"] == [str(i) for i in range(5)] and manifest["card"]["seed"] == 0
    )


def test_export_of_a_missing_run_is_one_line_exit_2(tmp_path):
    result = run_zoo("export", str(tmp_path / "runs" / "nope"), "--onnx")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: no such run directory, checkpoint or export: '{tmp_path / 'runs' / 'nope'}'"
    ]
