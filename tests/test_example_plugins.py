"""The example plugin distributions and the scaffold's output, built and installed for real."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import pip_install_target, run_zoo

PLUGINS = Path(__file__).parents[1] / "plugins"


@pytest.fixture(scope="module")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """zoo-plugin-example, zoo-torchvision and a freshly scaffolded plugin, installed together."""
    root = tmp_path_factory.mktemp("examples")
    sources = [
        shutil.copytree(PLUGINS / name, root / "src" / name)
        for name in ("zoo-plugin-example", "zoo-torchvision")
    ]
    scaffold = run_zoo("new-plugin", "scaffolded-net", "--dir", str(root / "src"))
    assert scaffold.returncode == 0, scaffold.stderr
    sources.append(root / "src" / "zoo-scaffolded-net")
    return pip_install_target(sources, root / "site")


def test_entries_listed_with_their_sources(example_site):
    rows = json.loads(run_zoo("list", "--json", site=example_site).stdout)
    sources = {(r["kind"], r["name"]): r["source"] for r in rows}
    assert sources[("model", "shapes-cnn")] == "zoo-plugin-example"
    assert sources[("dataset", "shapes")] == "zoo-plugin-example"
    assert sources[("optimizer", "signsgd")] == "zoo-plugin-example"
    for arch in ("resnet18", "resnet50", "mobilenet_v3_small", "efficientnet_b0", "vit_b_16"):
        assert sources[("model", arch)] == "zoo-torchvision"
    assert sources[("model", "scaffolded-net")] == "zoo-scaffolded-net"


def test_check_passes_the_example_plugin(example_site):
    result = run_zoo(
        "check",
        "shapes-cnn",
        "shapes",
        "signsgd",
        "--input-shape",
        "1,28,28",
        "--num-classes",
        "3",
        site=example_site,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✗" not in result.stdout and "3 of 3 passed" in result.stdout


def test_check_passes_the_scaffold_as_generated(example_site):
    result = run_zoo("check", "scaffolded-net", "--json", site=example_site)
    assert result.returncode == 0, result.stdout + result.stderr
    (report,) = json.loads(result.stdout)
    assert report["passed"] and len(report["checks"]) >= 4


def test_torchvision_models_adapt_to_channels_and_classes(example_site):
    result = run_zoo(
        "check",
        "mobilenet_v3_small",
        "--input-shape",
        "1,32,32",
        "--num-classes",
        "7",
        "--no-export",
        site=example_site,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(
        run_zoo("info", "vit_b_16", "--input-shape", "3,32,32", "--json", site=example_site).stdout
    )
    assert report["source"] == "zoo-torchvision" and report["size"]["num_classes"] == 10
    refused = run_zoo("info", "vit_b_16", "--input-shape", "1,28,28", site=example_site)
    assert refused.returncode == 2 and "multiple of 16" in refused.stderr


def test_check_fails_a_broken_model_with_the_reason(tmp_path):
    scaffold = run_zoo("new-plugin", "wrong-net", "--dir", str(tmp_path))
    assert scaffold.returncode == 0, scaffold.stderr
    model = tmp_path / "zoo-wrong-net" / "src" / "zoo_wrong_net" / "model.py"
    model.write_text(
        model.read_text().replace(
            "nn.Linear(2 * width * (height // 4) * (width_px // 4), num_classes)",
            "nn.Linear(2 * width * (height // 4) * (width_px // 4), 7)",
        )
    )
    site = pip_install_target([tmp_path / "zoo-wrong-net"], tmp_path / "site")
    result = run_zoo("check", "wrong-net", site=site)
    assert result.returncode == 1
    assert "✗ forward and backward pass (output shape (4, 7), expected (4, 10))" in result.stdout
    assert "0 of 1 passed" in result.stdout


def test_new_plugin_refuses_bad_names_and_existing_directories(tmp_path):
    assert run_zoo("new-plugin", "Bad Name", "--dir", str(tmp_path)).returncode == 2
    assert run_zoo("new-plugin", "ok-net", "--dir", str(tmp_path)).returncode == 0
    again = run_zoo("new-plugin", "ok-net", "--dir", str(tmp_path))
    assert again.returncode == 2 and "already exists" in again.stderr
    clash = run_zoo("new-plugin", "cifar10-cnn", "--dir", str(tmp_path))  # a built-in's name
    assert clash.returncode == 2 and "already registered (torch-zoo:cifar10-cnn)" in clash.stderr
    deeper = tmp_path / "new" / "folder"  # created when missing
    assert run_zoo("new-plugin", "deep-net", "--dir", str(deeper)).returncode == 0
    assert (deeper / "zoo-deep-net" / "pyproject.toml").is_file()


def test_plugin_model_trains_on_plugin_data_with_plugin_optimizer_then_exports_and_benches(
    example_site, tmp_path
):
    trained = run_zoo(
        "train", "shapes-cnn", "--dataset", "shapes", "--optimizer", "signsgd", "--epochs", "1",
        "--batch-size", "32", "--device", "cpu", "--out", str(tmp_path / "runs"), site=example_site,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stdout + trained.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("shapes-cnn-shapes-")
    config = json.loads((run_dir / "config.json").read_text())
    assert config["optimizer"] == "signsgd" and config["dataset"] == "shapes"
    (epoch,) = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert epoch["test_accuracy"] > 0.5  # three balanced classes: chance is 1/3

    exported = run_zoo(
        "export", str(run_dir), "--onnx", "--out", str(tmp_path / "export"), site=example_site
    )
    assert exported.returncode == 0, exported.stdout + exported.stderr
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["card"]["classes"] == ["circle", "square", "triangle"]
    assert manifest["files"][0]["verification"]["passed"]

    bench = run_zoo(
        "bench", str(tmp_path / "export"), "--batch-sizes", "1", "--test-samples", "32", "--iterations", "5",
        "--min-time", "0", "--report", str(tmp_path / "bench.json"), site=example_site,
    )  # fmt: skip
    assert bench.returncode == 0, bench.stdout + bench.stderr
    result = json.loads((tmp_path / "bench.json").read_text())
    assert result["parity"] and all(row["passed"] for row in result["parity"])
