"""What runs is what was proven: every command that runs an exported file checks its sha256
against the manifest first (``zoo predict DIR``, ``zoo predict FILE.onnx``, the cached export of
``zoo predict MODEL``), and a weights file is checked against all of its declared sha256, not a
prefix (a packaged file and a cached download alike)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import zoo_here
from export_support import one_weight_changed
from PIL import Image

from zoo.artifacts.manifest import CERTIFICATE_KEY
from zoo.errors import ZooError
from zoo.export.formats import FORMATS
from zoo.files import sha256_file
from zoo.registry import get_model_info, get_registry
from zoo.weights.declared import check_sha256, fetch
from zoo.weights.home import cache_file


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("proven") / "mnist-logreg"
    result = zoo_here("export", "mnist-logreg", "--weights", "default", "--onnx", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def digit(path: Path) -> Path:
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28), np.uint8)).save(path)
    return path


def test_predict_runs_only_the_file_its_manifest_lists(export_dir: Path, tmp_path: Path) -> None:
    image = str(digit(tmp_path / "digit.png"))
    changed = shutil.copytree(export_dir, tmp_path / "changed")
    onnx_file = changed / "mnist-logreg.onnx"
    assert zoo_here("predict", str(changed), image).returncode == 0
    one_weight_changed(onnx_file)
    for target in (changed, onnx_file):
        result = zoo_here("predict", str(target), image)
        (line,) = result.stderr.strip().splitlines()
        assert result.returncode == 2 and result.stdout == "", result.stderr
        assert f"{onnx_file} differs from its manifest (sha256)" in line
    stray = shutil.copy(export_dir / "mnist-logreg.onnx", changed / "renamed.onnx")
    result = zoo_here("predict", str(stray), image)
    assert result.returncode == 2 and "is not listed in" in result.stderr
    alone = shutil.copy(export_dir / "mnist-logreg.onnx", tmp_path / "alone.onnx")
    assert zoo_here("predict", str(alone), image).returncode == 0  # no manifest to check against


def test_a_cached_predict_export_with_one_weight_changed_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    image = str(digit(tmp_path / "digit.png"))
    first = zoo_here("predict", "mnist-logreg", image, "--json")
    assert first.returncode == 0, first.stderr
    (onnx_file,) = (tmp_path / "home" / "predict").glob("*/*.onnx")
    one_weight_changed(onnx_file)
    again = zoo_here("predict", "mnist-logreg", image, "--json")
    assert again.returncode == 0 and again.stdout == first.stdout  # made again, not trusted
    assert f"note: the cached export {onnx_file.parent} was damaged" in again.stderr
    assert "differs from its manifest (sha256)" in again.stderr


def prefix_only(sha256: str) -> str:
    """A sha256 that shares its first 16 hex digits with ``sha256`` and nothing after."""
    flipped = "".join("0" if c != "0" else "1" for c in sha256[16:])
    return sha256[:16] + flipped


def test_a_packaged_weights_file_is_checked_on_its_whole_sha256() -> None:
    entry = get_registry().resolve("model", "mnist-mlp3")
    declared = get_model_info("mnist-mlp3").weights[0]
    assert fetch(entry, declared).is_file()  # the true sha256 passes
    forged = dataclasses.replace(declared, sha256=prefix_only(declared.sha256))
    with pytest.raises(ZooError, match="not the declared"):
        fetch(entry, forged)


def test_a_cached_download_is_checked_on_its_whole_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    entry = get_registry().resolve("model", "mnist-mlp3")
    packaged = get_model_info("mnist-mlp3").weights[0]
    source = fetch(entry, packaged)
    real = dataclasses.replace(packaged, file="", url="https://example.invalid/w.safetensors")
    forged = dataclasses.replace(real, sha256=prefix_only(real.sha256))
    for declared in (real, forged):
        cached = cache_file(entry.name, declared)
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, cached)  # as if downloaded earlier: no network is asked
    assert fetch(entry, real) == cache_file(entry.name, real)
    with pytest.raises(ZooError, match=r"not the declared .*it was removed"):
        fetch(entry, forged)
    assert not cache_file(entry.name, forged).exists()
    with pytest.raises(ZooError):
        check_sha256(source, forged, remove=False, where="test")


def test_verify_passes_an_export_as_it_was_written(export_dir: Path) -> None:
    result = zoo_here("verify", str(export_dir))
    assert result.returncode == 0 and "verified" in result.stdout, result.stdout


def test_verify_names_its_target_as_every_command_does(export_dir: Path, tmp_path: Path) -> None:
    """zoo verify resolves its argument through zoo.sources: one of the export's files is
    re-checked alone, one it does not list is refused, and a file copied out of its export, a
    typo or a run each get one line."""
    only = zoo_here("verify", str(export_dir / "mnist-logreg.onnx"), "--json")
    assert only.returncode == 0, only.stderr
    assert [f["file"] for f in json.loads(only.stdout)["files"]] == ["mnist-logreg.onnx"]
    stray = shutil.copytree(export_dir, tmp_path / "stray") / "stray.onnx"
    shutil.copy(export_dir / "mnist-logreg.onnx", stray)
    alone = shutil.copy(export_dir / "mnist-logreg.onnx", tmp_path / "alone.onnx")
    (tmp_path / "run").mkdir()
    for target, words in (
        (stray, "is not listed in"),
        (alone, "re-checking it needs the export directory it came from"),
        ("nope", "no such export, exported file or ONNX file: 'nope'"),
        (tmp_path / "run", "zoo verify takes an export directory"),
    ):
        result = zoo_here("verify", str(target))
        (line,) = result.stderr.strip().splitlines()
        assert result.returncode == 2 and words in line, result.stderr


def test_verify_refuses_a_certificate_that_records_other_figures(
    export_dir: Path, tmp_path: Path
) -> None:
    """As an exporter that wrote a wrong max |a−b| into the file, its manifest and its hash
    alike would leave it: only measuring again and comparing finds it."""
    forged = shutil.copytree(export_dir, tmp_path / "forged")
    path = forged / "mnist-logreg.onnx"
    props = FORMATS["onnx"].read_props(path)
    certificate = json.loads(props[CERTIFICATE_KEY])
    true = certificate["parity"]["max_abs"]
    certificate["parity"]["max_abs"] = 0.0 if true else 1e-3
    props[CERTIFICATE_KEY] = json.dumps(certificate)
    FORMATS["onnx"].stamp(path, props)
    manifest = json.loads((forged / "manifest.json").read_text())
    (entry,) = manifest["files"]
    entry["sha256"], entry["bytes"] = sha256_file(path), path.stat().st_size
    entry["certificate"] = certificate
    entry["verification"]["max_abs"] = certificate["parity"]["max_abs"]
    (forged / "manifest.json").write_text(json.dumps(manifest))
    result = zoo_here("verify", str(forged))
    assert result.returncode == 1, result.stdout
    assert "the certificate is not what was measured" in " ".join(result.stdout.split())


def test_verify_refuses_verification_inputs_other_than_those_certified(
    export_dir: Path, tmp_path: Path
) -> None:
    """One reference output moved by one float32 step: within every tolerance, so the parity
    check alone passes; the certificate's sha256 of verification.npz does not."""
    changed = shutil.copytree(export_dir, tmp_path / "changed")
    with np.load(changed / "verification.npz") as stored:
        arrays = {key: stored[key] for key in stored.files}
    arrays["reference"].flat[0] = np.nextafter(arrays["reference"].flat[0], np.float32(np.inf))
    np.savez(changed / "verification.npz", **arrays)
    result = zoo_here("verify", str(changed))
    assert result.returncode == 1
    assert "differs from the one the files were certified on" in result.stdout
