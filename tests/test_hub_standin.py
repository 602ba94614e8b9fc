"""The Hub stand-in against the real huggingface_hub client, run in subprocesses.

The client reads HF_ENDPOINT, HF_HOME and HF_TOKEN when it is imported, so each client call runs in a
fresh interpreter with the environment `HubStandin.client_env` builds. These tests pin the protocol the
stand-in speaks to the installed client: if a new huggingface_hub calls anything else, they fail.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hub_standin import HubStandin

pytest.importorskip("huggingface_hub")

REPO = "zoo-tester/tiny-cnn"

# One client call per subprocess: argv[1] names it, argv[2] holds its JSON arguments, the last
# stdout line is its JSON result.
CLIENT = r"""
import json
import sys

import huggingface_hub as hf
from huggingface_hub import constants

op, kw = sys.argv[1], json.loads(sys.argv[2])
api = hf.HfApi()
if op == "publish":
    url = api.create_repo(kw["repo_id"], exist_ok=True, repo_type="model")
    info = api.upload_folder(
        repo_id=kw["repo_id"],
        folder_path=kw["folder"],
        commit_message=kw["message"],
        revision=kw.get("revision"),
    )
    result = {"url": str(url), "oid": info.oid, "commit_url": info.commit_url}
elif op == "create_twice":
    first = api.create_repo(kw["repo_id"], exist_ok=True, repo_type="model")
    second = api.create_repo(kw["repo_id"], exist_ok=True, repo_type="model")
    try:
        api.create_repo(kw["repo_id"], repo_type="model")
        third = None
    except hf.errors.HfHubHTTPError as error:
        third = error.response.status_code
    result = {"first": str(first), "second": str(second), "repo_id": first.repo_id, "third": third}
elif op == "download":
    result = {
        name: hf.hf_hub_download(kw["repo_id"], name, revision=kw.get("revision"))
        for name in kw["files"]
    }
elif op == "info":
    info = api.model_info(kw["repo_id"], revision=kw.get("revision"), files_metadata=True)
    result = {
        "sha": info.sha,
        "siblings": {
            s.rfilename: {"size": s.size, "lfs": s.lfs.sha256 if s.lfs else None}
            for s in info.siblings
        },
        "files": api.list_repo_files(kw["repo_id"], revision=kw.get("revision")),
    }
elif op == "whoami":
    result = api.whoami()["name"]
else:
    raise SystemExit(f"unknown op {op}")
result = {"endpoint": constants.ENDPOINT, "result": result}
print(json.dumps(result))
"""


def run_client(
    hub: HubStandin, home: Path, op: str, check: bool = True, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """Run one client call against ``hub``; client_env's keywords pass through ``kw``."""
    env_keys = ("logged_in", "token", "disable_xet")
    env = hub.client_env(home, **{k: kw.pop(k) for k in env_keys if k in kw})
    proc = subprocess.run(
        [sys.executable, "-c", CLIENT, op, json.dumps(kw)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def client_result(proc: subprocess.CompletedProcess[str], hub: HubStandin) -> Any:
    """The JSON result of a client call, after checking that it really talked to the stand-in."""
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["endpoint"] == hub.url
    return out["result"]


@pytest.fixture(autouse=True)
def never_proxied(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in is on 127.0.0.1: never behind a proxy (urllib keeps the proxies it first saw
    in this process, such as test_models' refusing one; it checks no_proxy on every request)."""
    for variable in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(variable, "127.0.0.1,localhost")


@pytest.fixture
def hub() -> Iterator[HubStandin]:
    with HubStandin(token="hf_test") as standin:
        yield standin


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """What `zoo publish` uploads: a model card, a JSON file and ~2 MB of binary weights."""
    root = tmp_path / "export"
    root.mkdir()
    (root / "README.md").write_text("---\nlicense: mit\n---\n# tiny-cnn\n")
    (root / "config.json").write_text(json.dumps({"model": "tiny-cnn", "classes": 10}))
    (root / "model.safetensors").write_bytes(hashlib.sha256(b"seed").digest() * (2_000_000 // 32))
    return root


def folder_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_upload_folder_records_the_commit_with_lfs_for_the_weights(
    hub: HubStandin, folder: Path, tmp_path: Path
) -> None:
    proc = run_client(
        hub,
        tmp_path / "home",
        "publish",
        repo_id=REPO,
        folder=str(folder),
        message="Publish tiny-cnn",
    )
    result = client_result(proc, hub)

    assert result["url"] == f"{hub.url}/{REPO}"
    [commit] = hub.commits
    assert (commit.repo_id, commit.revision, commit.message) == (REPO, "main", "Publish tiny-cnn")
    assert commit.oid == result["oid"] and len(commit.oid) == 40
    assert commit.files == folder_files(folder)
    assert commit.lfs_files == {"model.safetensors"}
    weights = (folder / "model.safetensors").read_bytes()
    [upload] = hub.lfs_uploads
    assert (upload.repo_id, upload.oid, upload.size) == (
        REPO,
        hashlib.sha256(weights).hexdigest(),
        len(weights),
    )
    assert upload.verified
    # the bytes went to storage without the token; the repo holds the initial commit and this one
    [put] = [r for r in hub.requests if r.method == "PUT"]
    assert put.server == "storage" and not put.authorized and put.status == 200
    assert hub.files(REPO) == {
        ".gitattributes": hub.files(REPO)[".gitattributes"],
        **folder_files(folder),
    }
    assert [c.message for c in hub.repos[REPO].history] == ["initial commit", "Publish tiny-cnn"]
    assert hub.unserved == []

    # publishing the same bytes again: preupload reports the remote oids, the client commits nothing
    run_client(hub, tmp_path / "home", "publish", repo_id=REPO, folder=str(folder), message="Again")
    assert len(hub.commits) == 1 and len(hub.lfs_uploads) == 1


def test_hf_hub_download_returns_the_published_bytes(
    hub: HubStandin, folder: Path, tmp_path: Path
) -> None:
    proc = run_client(
        hub, tmp_path / "publisher", "publish", repo_id=REPO, folder=str(folder), message="Publish"
    )
    oid = client_result(proc, hub)["oid"]
    expected = folder_files(folder)

    # a fresh cache each time, and no login (the repo is public); the last reader is left on Xet,
    # which must not matter: nothing the stand-in answers advertises Xet, so it downloads over HTTP
    for revision, xet in (("main", False), (oid, False), ("main", True)):
        home = tmp_path / f"reader-{revision}-{xet}"
        proc = run_client(
            hub,
            home,
            "download",
            logged_in=False,
            disable_xet=not xet,
            repo_id=REPO,
            files=sorted(expected),
            revision=revision,
        )
        paths = client_result(proc, hub)
        assert {name: Path(path).read_bytes() for name, path in paths.items()} == expected
        assert all(
            Path(path).is_relative_to(home) and f"/snapshots/{oid}/" in path
            for path in paths.values()
        )

    # the LFS file came from storage after a 302; regular files straight from /resolve
    lfs_gets = [r for r in hub.requests if r.server == "storage" and r.method == "GET"]
    assert len(lfs_gets) == 3 and all(r.status == 200 and not r.authorized for r in lfs_gets)
    heads = {r.path.rsplit("/", 1)[-1]: r.status for r in hub.requests if r.method == "HEAD"}
    assert heads == {"README.md": 200, "config.json": 200, "model.safetensors": 302}


def test_prefilled_repo_serves_branches_info_and_file_lists(
    hub: HubStandin, tmp_path: Path
) -> None:
    weights = bytes(range(256)) * 64
    main = hub.add_files(
        "org-less/prefilled", {"config.json": b"{}", "weights/model.onnx": weights}
    )
    branch = hub.add_files("org-less/prefilled", {"config.json": b'{"v": 1}'}, revision="v1")

    proc = run_client(
        hub,
        tmp_path / "a",
        "download",
        logged_in=False,
        repo_id="org-less/prefilled",
        files=["config.json", "weights/model.onnx"],
        revision="v1",
    )
    paths = client_result(proc, hub)
    assert Path(paths["config.json"]).read_bytes() == b'{"v": 1}'
    assert Path(paths["weights/model.onnx"]).read_bytes() == weights
    assert f"/snapshots/{branch}/" in paths["config.json"]

    info = client_result(run_client(hub, tmp_path / "b", "info", repo_id="org-less/prefilled"), hub)
    assert info["sha"] == main
    assert info["files"] == [".gitattributes", "config.json", "weights/model.onnx"]
    assert info["siblings"]["weights/model.onnx"] == {
        "size": len(weights),
        "lfs": hashlib.sha256(weights).hexdigest(),
    }
    assert info["siblings"]["config.json"] == {"size": 2, "lfs": None}
    assert hub.commits == []  # pre-filled commits are not client pushes


def test_upload_without_a_token_fails_and_commits_nothing(
    hub: HubStandin, folder: Path, tmp_path: Path
) -> None:
    # a new repo: create_repo gets the Hub's 401, its exist_ok fallback (repo_info) a 401 too
    proc = run_client(
        hub,
        tmp_path / "home",
        "publish",
        check=False,
        logged_in=False,
        repo_id=REPO,
        folder=str(folder),
        message="m",
    )
    assert proc.returncode != 0
    assert "401" in proc.stderr and "Invalid username or password." in proc.stderr
    assert REPO not in hub.repos

    # an existing public repo: create_repo(exist_ok=True) passes (repo_info works without a token),
    # the upload is refused at preupload, before any byte is sent
    hub.create_repo(REPO)
    proc = run_client(
        hub,
        tmp_path / "home",
        "publish",
        check=False,
        logged_in=False,
        repo_id=REPO,
        folder=str(folder),
        message="m",
    )
    assert proc.returncode != 0 and "401" in proc.stderr
    assert [(r.method, r.path.rsplit("/", 2)[-2], r.status) for r in hub.requests[-1:]] == [
        ("POST", "preupload", 401)
    ]
    # a wrong token is refused too, with the Hub's message for bad credentials
    proc = run_client(
        hub,
        tmp_path / "home",
        "publish",
        check=False,
        token="hf_wrong",
        repo_id=REPO,
        folder=str(folder),
        message="m",
    )
    assert proc.returncode != 0 and "Invalid credentials in Authorization header" in proc.stderr
    assert hub.commits == [] and hub.lfs_uploads == []


def test_create_repo_exist_ok_twice(hub: HubStandin, tmp_path: Path) -> None:
    result = client_result(run_client(hub, tmp_path / "home", "create_twice", repo_id=REPO), hub)
    assert result == {
        "first": f"{hub.url}/{REPO}",
        "second": f"{hub.url}/{REPO}",
        "repo_id": REPO,
        "third": 409,
    }
    assert list(hub.repos) == [REPO] and hub.commits == []


def test_upload_to_a_missing_branch_is_revision_not_found(
    hub: HubStandin, folder: Path, tmp_path: Path
) -> None:
    proc = run_client(
        hub,
        tmp_path / "home",
        "publish",
        check=False,
        repo_id=REPO,
        folder=str(folder),
        message="m",
        revision="v1",
    )
    assert proc.returncode != 0 and "RevisionNotFoundError" in proc.stderr
    assert hub.commits == [] and hub.lfs_uploads == []

    hub.create_branch(REPO, "v1")
    run_client(
        hub,
        tmp_path / "home",
        "publish",
        repo_id=REPO,
        folder=str(folder),
        message="On v1",
        revision="v1",
    )
    [commit] = hub.commits
    assert commit.revision == "v1" and hub.repos[REPO].branches["v1"] == commit.oid
    assert set(hub.files(REPO, "main")) == {".gitattributes"}  # main is untouched


def test_whoami_needs_the_right_token(hub: HubStandin, tmp_path: Path) -> None:
    assert client_result(run_client(hub, tmp_path / "home", "whoami"), hub) == "zoo-tester"
    proc = run_client(hub, tmp_path / "home", "whoami", check=False, token="hf_wrong")
    assert proc.returncode != 0 and "Invalid user token" in proc.stderr


def test_a_client_left_on_xet_fails_instead_of_passing(
    hub: HubStandin, folder: Path, tmp_path: Path
) -> None:
    proc = run_client(
        hub,
        tmp_path / "home",
        "publish",
        check=False,
        disable_xet=False,
        repo_id=REPO,
        folder=str(folder),
        message="m",
    )
    assert proc.returncode != 0
    assert hub.commits == []
    assert any("xet" in r.path for r in hub.unserved)


def test_unknown_endpoints_and_bad_lfs_bytes_are_refused(hub: HubStandin) -> None:
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{hub.url}/api/models/{REPO}/discussions")
    assert error.value.code == 404 and "no such endpoint" in json.load(error.value)["error"]
    assert [r.path for r in hub.unserved] == [f"/api/models/{REPO}/discussions"]

    hub.create_repo(REPO)
    data, wrong = b"\0weights" * 100, b"\0tampered" * 100
    batch = urllib.request.Request(
        f"{hub.url}/{REPO}.git/info/lfs/objects/batch",
        data=json.dumps(
            {
                "operation": "upload",
                "transfers": ["basic"],
                "objects": [{"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}],
            }
        ).encode(),
        headers={
            "Authorization": f"Bearer {hub.token}",
            "Content-Type": "application/vnd.git-lfs+json",
        },
    )
    with urllib.request.urlopen(batch) as response:
        href = json.load(response)["objects"][0]["actions"]["upload"]["href"]
    assert href.startswith(hub.storage_url)
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(urllib.request.Request(href, data=wrong[: len(data)], method="PUT"))
    assert error.value.code == 400 and "sha256" in json.load(error.value)["error"]
    with urllib.request.urlopen(urllib.request.Request(href, data=data, method="PUT")) as response:
        assert response.status == 200
    assert [u.size for u in hub.lfs_uploads] == [len(data)]
