"""``hf://OWNER/REPO``: a release ``zoo publish --to hf://`` uploads, then used by its address
(``zoo predict`` without torch, ``zoo eval``, ``zoo export``, ``zoo.create_model``), downloaded
once and checked against the sha256 the card records.

The Hub here is tests/hub_standin.py: a STAND-IN for the Hugging Face Hub's HTTP API on
127.0.0.1, not the Hub. It serves only the endpoints huggingface_hub really calls (everything
else is a recorded 404, checked below), so that a change in its protocol fails these tests
instead of passing them. huggingface_hub reads HF_ENDPOINT when it is imported: every client
runs in a fresh process with the stand-in's environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from export_support import one_weight_changed
from hub_standin import HubStandin
from PIL import Image
from publish_support import declaration, release_files, train_tiny_run

pytest.importorskip("huggingface_hub")

REPO = "zoo-tester/mnist-mlp-digits"
ZOO = Path(sys.executable).with_name("zoo")
PREDICT = """
import json, sys
sys.argv = ["zoo", *sys.argv[1:]]
from zoo.launch import main
try:
    main()
finally:
    print(json.dumps({name: name in sys.modules for name in ("torch", "typer")}), file=sys.stderr)
"""
USE = """
import json, sys
from typer.testing import CliRunner
import zoo
from zoo.cli.app import app
spec, out, report = sys.argv[1:]
runner = CliRunner()
evaluated = runner.invoke(app, ["eval", spec, "--json"], catch_exceptions=False)
exported = runner.invoke(app, ["export", spec, "--onnx", "--out", out], catch_exceptions=False)
model = zoo.create_model(spec)
tensors = {key: float(value.double().sum()) for key, value in model.state_dict().items()}
results = {"eval": json.loads(evaluated.stdout), "export": exported.exit_code, "tensors": tensors}
open(report, "w").write(json.dumps(results))
"""


@dataclass
class Uploaded:
    hub: HubStandin
    run: Path
    release: Path
    process: subprocess.CompletedProcess[str]
    root: Path

    def env(self, name: str, **changes: str) -> dict[str, str]:
        """A client's environment: the stand-in, its own HF_HOME and ZOO_HOME, no login."""
        env = self.hub.client_env(self.root / f"hf-{name}", logged_in=False)
        return {**env, "ZOO_HOME": str(self.root / f"zoo-{name}"), "COLUMNS": "200", **changes}


@pytest.fixture(scope="module")
def uploaded(tmp_path_factory: pytest.TempPathFactory) -> Uploaded:
    root = tmp_path_factory.mktemp("hub")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_HOME", str(root / "trainer-home"))
        run = train_tiny_run(root / "runs")
    with HubStandin(token="hf_test") as hub:
        env = hub.client_env(root / "hf-publisher") | {"ZOO_HOME": str(root / "zoo-publisher")}
        process = subprocess.run(
            [str(ZOO), "publish", str(run), "--name", "digits-v1", "--to", f"hf://{REPO}",
             "--out", str(root / "release"), "--license", "mit"],
            capture_output=True, text=True, env={**env, "COLUMNS": "200"}, timeout=300,
        )  # fmt: skip
        yield Uploaded(hub, run, root / "release", process, root)


def zoo(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ZOO), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def test_publish_uploads_the_release_in_one_commit_that_names_the_run(uploaded: Uploaded) -> None:
    assert uploaded.process.returncode == 0, uploaded.process.stderr
    hub, release = uploaded.hub, uploaded.release
    [commit] = hub.commits
    assert commit.repo_id == REPO and commit.revision == "main"
    assert (
        commit.message == f"zoo publish: mnist-mlp weights 'digits-v1' from run {uploaded.run.name}"
    )
    assert set(commit.files) == release_files(release)
    assert all(commit.files[name] == (release / name).read_bytes() for name in commit.files)
    _, declared = declaration(release)
    assert {declared["file"], "mnist-mlp.onnx"} <= set(commit.lfs_files)  # binaries: LFS
    assert hub.unserved == []  # nothing asked of the stand-in that the Hub does not serve
    printed = uploaded.process.stdout
    pinned = f"hf://{REPO}/{declared['file']}@{commit.oid}"  # the declaration, at this commit
    assert f'"url": "{pinned}"' in printed and f"zoo predict hf://{REPO}" in printed
    assert f"zoo predict hf://{REPO} image.png" in (release / "README.md").read_text()


def write_image(path: Path) -> Path:
    pixels = np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8)
    Image.fromarray(pixels, mode="L").save(path)
    return path


def test_a_published_repo_is_a_model_spec(uploaded: Uploaded, tmp_path: Path) -> None:
    hub, spec = uploaded.hub, f"hf://{REPO}"
    image = str(write_image(tmp_path / "digit.png"))
    env = uploaded.env("reader")
    rows = []
    for call in range(2):
        before = len(hub.requests)
        result = subprocess.run(
            [sys.executable, "-c", PREDICT, "predict", spec, image, "--json"],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        imported = json.loads(result.stderr.strip().splitlines()[-1])
        assert imported["torch"] is False  # the repo's ONNX file, ONNX Runtime alone
        rows.append(json.loads(result.stdout))
        if call:  # cached: no request at all, and not even the command-line app
            assert len(hub.requests) == before and imported["typer"] is False
    assert rows[0] == rows[1] and len(rows[0][0]["outputs"]) == 5
    # eval, export and create_model need the weights: downloaded once into the zoo cache
    report = tmp_path / "report.json"
    used = subprocess.run(
        [sys.executable, "-c", USE, spec, str(tmp_path / "export"), str(report)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert used.returncode == 0, used.stderr
    results = json.loads(report.read_text())
    _, declared = declaration(uploaded.release)
    from zoo.sources import resolve
    from zoo.train.eval_request import EvalRequest
    from zoo.train.evaluation import evaluate_weights

    local = resolve(str(uploaded.release / declared["file"]))  # the file before its upload
    assert (
        results["eval"]["accuracy"]
        == evaluate_weights(local, EvalRequest(out=str(tmp_path / "e"))).summary.value
    )
    cached = Path(results["eval"]["checkpoint"])
    assert cached.parent == uploaded.root / "zoo-reader" / "weights"
    assert cached.name == f"mnist-mlp-digits-v1-{declared['sha256'][:12]}.safetensors"
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert results["export"] == 0 and manifest["card"]["weights_sha256"] == declared["sha256"]
    from safetensors.torch import load_file

    stored = load_file(str(uploaded.release / declared["file"]))
    assert results["tensors"] == {k: float(v.double().sum()) for k, v in stored.items()}
    downloads = [r for r in hub.requests if r.method == "GET" and declared["sha256"] in r.path]
    assert len(downloads) == 1  # once, for eval; export and create_model used the cache
    # offline now (nothing listens there): the cached release still answers
    offline = uploaded.env("reader", HF_ENDPOINT="http://127.0.0.1:9")
    again = zoo("predict", spec, image, "--json", env=offline)
    assert again.returncode == 0 and json.loads(again.stdout) == rows[0]


def test_a_cached_release_is_checked_before_every_use_and_can_be_verified(
    uploaded: Uploaded, tmp_path: Path
) -> None:
    spec, env = f"hf://{REPO}", uploaded.env("verifier")
    image = str(write_image(tmp_path / "digit.png"))
    first = zoo("predict", spec, image, "--json", env=env)
    assert first.returncode == 0, first.stderr
    verified = zoo("verify", spec, env=env)
    assert verified.returncode == 0 and "verified" in verified.stdout, verified.stderr
    folder = uploaded.root / "zoo-verifier" / "hub" / REPO.replace("/", "--") / "main"
    assert (folder / "verification.npz").is_file()
    one_weight_changed(folder / "mnist-mlp.onnx")
    failed = zoo("verify", str(folder), env=env)
    assert failed.returncode == 1 and "differs from its manifest (sha256)" in failed.stdout
    again = zoo("predict", spec, image, "--json", env=env)
    assert again.returncode == 0 and again.stdout == first.stdout  # downloaded again, not used
    assert f"note: the cached release {folder} was damaged" in again.stderr


def test_what_is_not_a_good_release_is_one_line(uploaded: Uploaded, tmp_path: Path) -> None:
    hub, release = uploaded.hub, uploaded.release
    files = {name: (release / name).read_bytes() for name in release_files(release)}
    _, declared = declaration(release)
    hub.add_files(
        "zoo-tester/tampered", {**files, "mnist-mlp.onnx": files["mnist-mlp.onnx"] + b"x"}
    )
    other = files[declared["file"]].replace(b'\\"epoch\\": 3', b'\\"epoch\\": 4')
    assert other != files[declared["file"]] and len(other) == len(files[declared["file"]])
    hub.add_files("zoo-tester/other-weights", {**files, declared["file"]: other})
    index = json.loads(files["weights.json"])
    hub.add_files("zoo-tester/elsewhere", {
        **files, "weights.json": json.dumps({"not-installed-net": index["mnist-mlp"]}).encode(),
    })  # fmt: skip
    hub.add_files("zoo-tester/not-a-release", {"README.md": b"# just a model\n"})
    image = str(write_image(tmp_path / "digit.png"))
    cases = [
        (["predict", "hf://zoo-tester/tampered", image], "differs from its manifest (sha256)"),
        (["predict", "hf://zoo-tester/not-a-release", image], "has no weights.json: it is not"),
        (["predict", "hf://zoo-tester/missing", image], "no model repository zoo-tester/missing"),
        (["weights", "fetch", "hf://zoo-tester/other-weights"], "not the declared"),
        (["eval", "hf://zoo-tester/elsewhere"], "'not-installed-net', which no installed plugin"),
        (["predict", f"hf://{REPO}", image, "--weights", "v2"], "publishes one set of weights"),
    ]
    env = uploaded.env("checker")
    for args, message in cases:
        result = zoo(*args, env=env, cwd=tmp_path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and lines[-1].startswith("error: "), (args, result.stderr)
        assert message in lines[-1] and "Traceback" not in result.stderr, (message, lines[-1])
    # a release whose model is not installed still predicts: its ONNX file needs no model code
    assert zoo("predict", "hf://zoo-tester/elsewhere", image, env=env).returncode == 0
    offline = uploaded.env("offline", HF_ENDPOINT="http://127.0.0.1:9")
    result = zoo("predict", f"hf://{REPO}", image, env=offline)
    assert (
        result.returncode == 2 and "no connection to the Hub, and it is not cached" in result.stderr
    )
    assert "zoo weights fetch" in result.stderr and "Retrying" not in result.stderr


def test_publishing_to_the_hub_needs_a_login_and_the_network(
    uploaded: Uploaded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    from zoo.errors import ZooError
    from zoo.publish.options import PublishRequest
    from zoo.publish.plan import plan

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"))
    request = PublishRequest(
        str(uploaded.run), name="v2", to="hf://me/net", out=str(tmp_path / "r")
    )
    with pytest.raises(ZooError, match="not logged in to the Hugging Face Hub"):
        plan(request)
    monkeypatch.setenv("HF_TOKEN", "hf_anything")
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(
        ZooError, match=re.escape("cannot reach the Hugging Face Hub at http://127.0.0.1:9")
    ):
        plan(request)
    monkeypatch.setattr(constants, "ENDPOINT", uploaded.hub.url)  # the stand-in: a wrong token
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with pytest.raises(ZooError, match="refuses the login"):
        plan(request)
    assert not (tmp_path / "r").exists()
    assert os.environ["HF_TOKEN"] == "hf_anything"
