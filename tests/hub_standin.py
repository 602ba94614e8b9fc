"""A local stand-in for the Hugging Face Hub's HTTP API, for tests.

This module STANDS IN for https://huggingface.co: it is not the Hub, it only answers the requests that the
real ``huggingface_hub`` client (written against version 2.4.0) sends for publishing a model repo and
downloading its files, with the status codes, headers and JSON shapes that client parses. Point the client
at it with ``HF_ENDPOINT`` (see `HubStandin.client_env`). Everything else gets a 404 with a JSON error and
is recorded in `HubStandin.unserved`, so a protocol change in ``huggingface_hub`` makes tests fail instead
of silently passing.

Two listeners run on 127.0.0.1, each on a random port. The Hub API (``HubStandin.url``, the value for
``HF_ENDPOINT``) serves:

====== ================================================== ===============================================
Method Path                                               Client call
====== ================================================== ===============================================
GET    /api/whoami-v2                                     ``HfApi.whoami``
POST   /api/repos/create                                  ``HfApi.create_repo``
POST   /api/validate-yaml                                 ``upload_folder``/``create_commit`` adding a README.md
GET    /api/models/{repo_id}                              ``HfApi.model_info``/``repo_info``; ``create_repo(exist_ok=True)``
                                                          after a 401/403
GET    /api/models/{repo_id}/revision/{revision}          ``model_info(revision=...)``, ``snapshot_download``,
                                                          ``create_commit`` when nothing changed
GET    /api/models/{repo_id}/tree/{revision}[/{path}]     ``list_repo_files``/``list_repo_tree``, ``snapshot_download``
POST   /api/models/{repo_id}/preupload/{revision}         ``create_commit``/``upload_folder``: regular or LFS per file
POST   /api/models/{repo_id}/commit/{revision}            ``create_commit``/``upload_folder``: the NDJSON commit
POST   /{repo_id}.git/info/lfs/objects/batch              LFS upload negotiation (``lfs.post_lfs_batch_info``)
POST   /{repo_id}.git/info/lfs/objects/verify             LFS verify step (``lfs.lfs_upload``)
HEAD   /{repo_id}/resolve/{revision}/{filename}           ``hf_hub_download`` metadata (``get_hf_file_metadata``)
GET    /{repo_id}/resolve/{revision}/{filename}           ``hf_hub_download`` body of regular files
====== ================================================== ===============================================

The storage listener (``HubStandin.storage_url``) plays the Hub's S3/CDN: another origin, so the client
treats its URLs as signed storage URLs and sends no ``Authorization`` header there (a request that carries
one gets a 400, as S3 answers a presigned URL plus a second auth mechanism):

====== ================================================== ===============================================
PUT    /upload/{repo_id}/{sha256}?size=&sig=              LFS "basic" transfer (``lfs._upload_single_part``)
GET    /lfs/{repo_id}/{sha256}?sig=                       ``hf_hub_download`` body of an LFS file, after the
                                                          Hub answered its HEAD with a 302 to here
====== ================================================== ===============================================

What the client does, and what the stand-in mirrors:

* Xet: with ``hf_xet`` installed, 2.4.0 uploads LFS files through Xet (``upload_folder`` switches to a
  pipelined multi-commit upload) and downloads through Xet when a resolve answer carries ``X-Xet-Hash``.
  ``HF_HUB_DISABLE_XET=1`` forces the legacy path: preupload, LFS batch (``transfers: ["basic",
  "multipart"]``), PUT, verify, one NDJSON commit. The stand-in never advertises Xet: it has no
  ``xet-write-token``/``xet-read-token`` endpoint, sends no ``X-Xet-*`` header and its LFS batch answers
  ``"transfer": "basic"``; a client left on Xet fails on a 404.
* Uploads: preupload says ``"lfs"`` for a file whose name ends in one of ``lfs_suffixes``, whose size
  reaches ``lfs_threshold`` or whose first 512 bytes hold a NUL byte (binary), otherwise ``"regular"``;
  regular files travel base64-encoded in the commit, LFS ones as ``lfsFile`` pointers to objects PUT
  earlier (their sha256 and size are checked). A regular file that should have gone through LFS, or a
  pointer to an object that was never uploaded, is rejected with a 400 as the Hub rejects such pushes.
  Preupload also returns each existing file's oid (sha256 for LFS, git blob sha1 otherwise); the client
  drops unchanged files and, when nothing changed, makes no commit at all.
* Revisions: the client never creates branches. ``upload_folder(revision="v1")`` for a missing branch
  fails at preupload with 404 ``X-Error-Code: RevisionNotFound`` (``RevisionNotFoundError``), before any
  upload; the commit endpoint answers the same. Create the branch first (`HubStandin.create_branch`).
* New repos start, as on the Hub, with an "initial commit" holding a ``.gitattributes``.
* Auth: write endpoints and whoami need ``Authorization: Bearer <token>``; without one they answer 401
  "Invalid username or password.", a wrong token gets 401 "Invalid credentials in Authorization header"
  on every endpoint. Reads of public repos need no token; a private or missing repo is a 401 for an
  anonymous caller and a 404 for a logged-in one, both ``X-Error-Code: RepoNotFound``.

Not served: pull requests (``create_pr``), tags, ``create_branch`` over HTTP, copies across repos,
datasets and Spaces, ``.gitignore`` filtering (``shouldIgnore`` is always false), pagination.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

# Suffixes a new Hub model repo's default .gitattributes sends through LFS (the common ones).
DEFAULT_LFS_SUFFIXES: tuple[str, ...] = (
    ".7z",
    ".arrow",
    ".bin",
    ".bz2",
    ".ckpt",
    ".ftz",
    ".gz",
    ".h5",
    ".joblib",
    ".mlmodel",
    ".model",
    ".msgpack",
    ".npy",
    ".npz",
    ".onnx",
    ".ot",
    ".parquet",
    ".pb",
    ".pickle",
    ".pkl",
    ".pt",
    ".pth",
    ".rar",
    ".safetensors",
    ".tar",
    ".tflite",
    ".tgz",
    ".wasm",
    ".xz",
    ".zip",
    ".zst",
)
DEFAULT_LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub takes larger files through LFS only

_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9_])?$")
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"
_NO_METADATA_WARNING = (
    "empty or missing yaml metadata in repo card "
    "(https://huggingface.co/docs/hub/model-cards#model-card-metadata)"
)


def git_blob_oid(data: bytes) -> str:
    """The git blob sha1 of ``data``: the Hub's ETag and tree oid of a regular file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    """A timestamp in the one format ``huggingface_hub.utils.parse_datetime`` reads."""
    moment = datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Blob:
    """One file of one revision, as the Hub stores it: in git, or in LFS behind a pointer."""

    data: bytes
    lfs: bool
    last_commit: str  # oid of the commit that last changed the file

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def pointer(self) -> bytes:
        """The LFS pointer file git holds instead of the bytes."""
        return _LFS_POINTER.format(oid=self.sha256, size=len(self.data)).encode()

    @property
    def oid(self) -> str:
        """The git blob oid (of the pointer for an LFS file), as the tree API reports it."""
        return git_blob_oid(self.pointer if self.lfs else self.data)

    @property
    def content_oid(self) -> str:
        """The oid preupload returns and the client compares: sha256 for LFS, git sha1 otherwise."""
        return self.sha256 if self.lfs else self.oid


@dataclass(frozen=True)
class Commit:
    """A commit on a repo's branch: ``files`` are the files it added or changed (path -> bytes)."""

    repo_id: str
    revision: str  # the branch it landed on
    message: str
    files: dict[str, bytes]
    oid: str
    description: str = ""
    parent: str | None = None
    lfs_files: frozenset[str] = frozenset()  # which of ``files`` went through LFS
    deleted: tuple[str, ...] = ()
    date: str = ""


@dataclass
class LfsUpload:
    """An LFS object PUT to the storage listener (and whether the client ran the verify step)."""

    repo_id: str
    oid: str  # sha256
    size: int
    verified: bool = False


@dataclass(frozen=True)
class RequestRecord:
    """One request either listener answered."""

    server: str  # "hub" or "storage"
    method: str
    path: str  # percent-decoded, without the query
    query: str
    status: int
    authorized: bool  # whether it carried an Authorization header


@dataclass
class Repo:
    """A model repo held in memory: branches, every commit's full tree, and its LFS objects."""

    repo_id: str
    private: bool = False
    branches: dict[str, str] = field(default_factory=dict)  # branch -> head commit oid
    trees: dict[str, dict[str, Blob]] = field(default_factory=dict)  # commit oid -> path -> blob
    history: list[Commit] = field(default_factory=list)  # every commit, the initial one included
    lfs_objects: dict[str, bytes] = field(default_factory=dict)  # sha256 -> bytes
    created_at: str = field(default_factory=_now)
    object_id: str = field(default_factory=lambda: secrets.token_hex(12))

    def resolve(self, revision: str) -> str | None:
        """The commit a branch name or a full commit oid names, or None."""
        if revision in self.branches:
            return self.branches[revision]
        if _COMMIT_RE.fullmatch(revision) and revision in self.trees:
            return revision
        return None

    def commit(self, oid: str) -> Commit:
        return next(c for c in self.history if c.oid == oid)

    def files(self, revision: str = "main") -> dict[str, bytes]:
        """The files (path -> bytes) at a branch or commit."""
        oid = self.resolve(revision)
        if oid is None:
            raise KeyError(f"{self.repo_id} has no revision {revision!r}")
        return {path: blob.data for path, blob in sorted(self.trees[oid].items())}


@dataclass
class _Request:
    server: str
    method: str
    raw_path: str
    query: dict[str, list[str]]
    headers: Message  # case-insensitive, as the handler parsed them
    body: bytes

    @property
    def segments(self) -> list[str]:
        """Path segments, split before decoding so that a quoted '/' stays inside its segment."""
        return [unquote(part) for part in self.raw_path.split("/")[1:]]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class HubError(Exception):
    """An error answer, shaped like the Hub's: JSON ``{"error": ...}`` plus X-Error-* headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})
        self.payload = dict(payload or {})

    def response(self) -> _Response:
        headers = {"X-Error-Message": self.message, **self.headers}
        if self.code is not None:
            headers["X-Error-Code"] = self.code
        return _json_response(self.status, {"error": self.message, **self.payload}, headers)


def _json_response(
    status: int,
    payload: Any,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json; charset=utf-8",
) -> _Response:
    body = json.dumps(payload).encode()
    return _Response(status, body, {"Content-Type": content_type, **(headers or {})})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, standin: HubStandin, role: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.standin = standin
        self.role = role


class _Handler(BaseHTTPRequestHandler):
    """Reads a whole request, lets the stand-in answer it, writes the answer (keep-alive HTTP/1.1)."""

    protocol_version = "HTTP/1.1"
    server_version = "hub-standin"
    timeout = 60  # idle keep-alive connections end instead of holding a thread forever
    server: _Server

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        request = _Request(
            server=self.server.role,
            method=method,
            raw_path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=self._read_body(),
        )
        response = self.server.standin._answer(request)
        self.send_response(response.status)
        for name, value in response.headers.items():
            # header lines are latin-1: keep e.g. a non-ASCII filename in an error message readable
            self.send_header(name, value.encode("ascii", "backslashreplace").decode("ascii"))
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: `HubStandin.requests` records every request instead."""


class HubStandin:
    """A Hugging Face Hub stand-in on 127.0.0.1: start it, point ``HF_ENDPOINT`` at ``url``, inspect it.

    ``token`` is the one access token it accepts, belonging to ``user``; that user may write to repos
    in its own namespace and in ``orgs``. ``commits`` lists the commits clients pushed over HTTP;
    ``repos`` holds every repo with its full history.
    """

    def __init__(
        self,
        token: str = "hf_test",
        *,
        user: str = "zoo-tester",
        orgs: Iterable[str] = (),
        lfs_threshold: int = DEFAULT_LFS_THRESHOLD,
        lfs_suffixes: Iterable[str] = DEFAULT_LFS_SUFFIXES,
    ) -> None:
        self.token = token
        self.user = user
        self.orgs = tuple(orgs)
        self.lfs_threshold = lfs_threshold
        self.lfs_suffixes = tuple(suffix.lower() for suffix in lfs_suffixes)
        self._lock = threading.RLock()
        self._secret = secrets.token_bytes(16)
        self._repos: dict[str, Repo] = {}
        self._commits: list[Commit] = []
        self._lfs_uploads: list[LfsUpload] = []
        self._requests: list[RequestRecord] = []
        self._unserved: list[RequestRecord] = []
        self._errors: list[str] = []
        self._commit_counter = 0
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []

    # ----------------------------------------------------------------------------------------- life
    def start(self) -> HubStandin:
        """Start both listeners, each in a daemon thread."""
        if self._servers:
            raise RuntimeError("the hub stand-in is already running")
        for role in ("hub", "storage"):
            server = _Server(self, role)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"hub-standin-{role}",
                daemon=True,
            )
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop both listeners and close their sockets."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> HubStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc_type is None and self._errors:
            raise RuntimeError(
                "the hub stand-in crashed while answering:\n" + "\n".join(self._errors)
            )

    @property
    def url(self) -> str:
        """The Hub API's address: the value for ``HF_ENDPOINT``."""
        return self._address(0)

    @property
    def storage_url(self) -> str:
        """The storage (S3/CDN) listener's address."""
        return self._address(1)

    def _address(self, index: int) -> str:
        if not self._servers:
            raise RuntimeError("the hub stand-in is not running")
        return f"http://127.0.0.1:{self._servers[index].server_address[1]}"

    # ------------------------------------------------------------------------------------- records
    @property
    def commits(self) -> list[Commit]:
        """Commits clients pushed over HTTP, oldest first (not the initial or `add_files` ones)."""
        with self._lock:
            return list(self._commits)

    @property
    def repos(self) -> dict[str, Repo]:
        """Every repo, by id."""
        with self._lock:
            return dict(self._repos)

    @property
    def lfs_uploads(self) -> list[LfsUpload]:
        """LFS objects clients PUT to the storage listener."""
        with self._lock:
            return list(self._lfs_uploads)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def unserved(self) -> list[RequestRecord]:
        """Requests for endpoints or options the stand-in does not serve (answered 404)."""
        with self._lock:
            return list(self._unserved)

    @property
    def errors(self) -> list[str]:
        """Tracebacks of the stand-in's own crashes (answered 500); leaving the ``with`` raises them."""
        with self._lock:
            return list(self._errors)

    # ----------------------------------------------------------------------------- direct set-up
    def create_repo(self, repo_id: str, *, private: bool = False) -> Repo:
        """Create a repo as the Hub would (with its initial commit), without going through HTTP."""
        namespace, _, name = repo_id.partition("/")
        if not (_NAME_RE.fullmatch(namespace) and _NAME_RE.fullmatch(name)):
            raise ValueError(f"not a valid repo id: {repo_id!r}")
        with self._lock:
            if repo_id in self._repos:
                raise ValueError(f"{repo_id} already exists")
            repo = Repo(repo_id, private=private)
            self._repos[repo_id] = repo
            attributes = "".join(
                f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in self.lfs_suffixes
            )
            self._apply_commit(
                repo,
                "main",
                message="initial commit",
                additions={".gitattributes": (attributes.encode(), False)},
                base=None,
            )
            return repo

    def create_branch(self, repo_id: str, branch: str, *, revision: str = "main") -> str:
        """Create ``branch`` at ``revision`` (the client has no need to, the Hub has an endpoint)."""
        with self._lock:
            repo = self._repos[repo_id]
            oid = repo.resolve(revision)
            if oid is None:
                raise KeyError(f"{repo_id} has no revision {revision!r}")
            if branch in repo.branches:
                raise ValueError(f"{repo_id} already has a branch {branch!r}")
            repo.branches[branch] = oid
            return oid

    def add_files(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        *,
        revision: str = "main",
        message: str = "Add files",
    ) -> str:
        """Commit ``files`` straight into a repo, for download-only tests; return the commit oid.

        Creates the repo, and the branch (from main), when missing. Files go to LFS by the same rules
        preupload applies. The commit is not listed in `commits`.
        """
        with self._lock:
            repo = self._repos.get(repo_id) or self.create_repo(repo_id)
            if revision not in repo.branches:
                self.create_branch(repo_id, revision)
            additions = {
                path: (bytes(data), self._wants_lfs(path, len(data), bytes(data[:512])))
                for path, data in files.items()
            }
            for data, lfs in additions.values():
                if lfs:
                    repo.lfs_objects[hashlib.sha256(data).hexdigest()] = data
            return self._apply_commit(
                repo, revision, message=message, additions=additions, base=repo.branches[revision]
            ).oid

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files (path -> bytes) of a repo at a branch or commit."""
        with self._lock:
            return self._repos[repo_id].files(revision)

    def client_env(
        self,
        hf_home: str | os.PathLike[str],
        *,
        logged_in: bool = True,
        token: str | None = None,
        disable_xet: bool = True,
        base: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """Environment for a ``huggingface_hub`` subprocess that talks to this stand-in only.

        Drops every inherited ``HF_*``/``HUGGINGFACE_*`` variable (a real token, offline mode, an
        OIDC exchange, another cache), then sets ``HF_ENDPOINT``, a fresh ``HF_HOME``, telemetry and
        Xet off, and ``HF_TOKEN`` (this stand-in's token, or ``token``) unless ``logged_in`` is false.
        """
        env = {
            key: value
            for key, value in (os.environ if base is None else base).items()
            if not key.upper().startswith(("HF_", "HUGGINGFACE_"))
            and key.upper() != "TRANSFORMERS_OFFLINE"
        }
        no_proxy = ",".join(filter(None, ["127.0.0.1", "localhost", env.get("NO_PROXY", "")]))
        env.update(
            HF_ENDPOINT=self.url,
            HF_HOME=os.fspath(hf_home),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HUB_DISABLE_SYMLINKS_WARNING="1",
            NO_PROXY=no_proxy,
            no_proxy=no_proxy,
        )
        if disable_xet:
            env["HF_HUB_DISABLE_XET"] = "1"
        if logged_in:
            env["HF_TOKEN"] = token if token is not None else self.token
        return env

    # ------------------------------------------------------------------------------------ serving
    def _answer(self, request: _Request) -> _Response:
        """Route one request; record it; turn errors into Hub-shaped answers."""
        try:
            response = self._route(request)
        except HubError as error:
            response = error.response()
        except Exception:
            with self._lock:
                self._errors.append(traceback.format_exc())
            response = HubError(500, "hub stand-in crashed, see HubStandin.errors").response()
        record = RequestRecord(
            server=request.server,
            method=request.method,
            path=unquote(request.raw_path),
            query="&".join(f"{k}={v}" for k, values in request.query.items() for v in values),
            status=response.status,
            authorized="Authorization" in request.headers,
        )
        with self._lock:
            self._requests.append(record)
            if response.headers.get("X-Standin-Unserved"):
                self._unserved.append(record)
        return response

    def _unserved_error(self, message: str) -> HubError:
        """A 404 for something this stand-in does not serve; `_answer` records it in `unserved`."""
        return HubError(404, f"hub stand-in: {message}", headers={"X-Standin-Unserved": "1"})

    def _route(self, req: _Request) -> _Response:
        seg = req.segments
        method = req.method
        if req.server == "storage":
            if method == "PUT" and len(seg) == 4 and seg[0] == "upload":
                return self._storage_put(req, f"{seg[1]}/{seg[2]}", seg[3])
            if method in ("GET", "HEAD") and len(seg) == 4 and seg[0] == "lfs":
                return self._storage_get(req, f"{seg[1]}/{seg[2]}", seg[3])
        elif seg[:1] == ["api"]:
            if method == "GET" and seg == ["api", "whoami-v2"]:
                return self._whoami(req)
            if method == "POST" and seg == ["api", "repos", "create"]:
                return self._create_repo(req)
            if method == "POST" and seg == ["api", "validate-yaml"]:
                return self._validate_yaml(req)
            if len(seg) >= 4 and seg[1] == "models":
                repo_id, rest = f"{seg[2]}/{seg[3]}", seg[4:]
                if method == "GET" and not rest:
                    return self._model_info(req, repo_id, None)
                if method == "GET" and len(rest) == 2 and rest[0] == "revision":
                    return self._model_info(req, repo_id, rest[1])
                if method == "GET" and len(rest) >= 2 and rest[0] == "tree":
                    return self._tree(req, repo_id, rest[1], "/".join(rest[2:]))
                if method == "POST" and len(rest) == 2 and rest[0] == "preupload":
                    return self._preupload(req, repo_id, rest[1])
                if method == "POST" and len(rest) == 2 and rest[0] == "commit":
                    return self._commit(req, repo_id, rest[1])
        elif (
            method == "POST"
            and len(seg) == 6
            and seg[1].endswith(".git")
            and seg[2:5] == ["info", "lfs", "objects"]
            and seg[5] in ("batch", "verify")
        ):
            repo_id = f"{seg[0]}/{seg[1].removesuffix('.git')}"
            if seg[5] == "batch":
                return self._lfs_batch(req, repo_id)
            return self._lfs_verify(req, repo_id)
        elif method in ("GET", "HEAD") and len(seg) >= 5 and seg[2] == "resolve":
            return self._resolve(req, f"{seg[0]}/{seg[1]}", seg[3], "/".join(seg[4:]))
        raise self._unserved_error(f"no such endpoint: {method} {unquote(req.raw_path)}")

    # -------------------------------------------------------------------------------- helpers
    def _caller(self, req: _Request) -> str | None:
        """The user a request authenticates as, None when anonymous; a wrong token is a 401."""
        header = req.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip(), self.token):
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.user

    def _require_caller(self, req: _Request) -> str:
        caller = self._caller(req)
        if caller is None:
            raise HubError(401, "Invalid username or password.")
        return caller

    def _can_write(self, caller: str | None, namespace: str) -> bool:
        return caller is not None and namespace in (self.user, *self.orgs)

    def _readable_repo(self, repo_id: str, caller: str | None) -> Repo:
        repo = self._repos.get(repo_id)
        if repo is None or (repo.private and not self._can_write(caller, repo_id.split("/")[0])):
            if caller is None:
                raise HubError(401, "Invalid username or password.", code="RepoNotFound")
            raise HubError(404, "Repository not found", code="RepoNotFound")
        return repo

    def _writable_repo(self, repo_id: str, caller: str) -> Repo:
        repo = self._readable_repo(repo_id, caller)
        if not self._can_write(caller, repo_id.split("/")[0]):
            raise HubError(403, f"You don't have the rights to write to {repo_id}")
        return repo

    def _commit_oid(self, repo: Repo, revision: str) -> str:
        oid = repo.resolve(revision)
        if oid is None:
            raise HubError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        return oid

    def _branch_head(self, repo: Repo, revision: str) -> str:
        """Writes go to branches only: anything else is a missing revision, as on the Hub."""
        if revision not in repo.branches:
            raise HubError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        return repo.branches[revision]

    def _allow_params(self, req: _Request, allowed: Iterable[str]) -> None:
        unknown = sorted(set(req.query) - set(allowed))
        if unknown:
            raise self._unserved_error(f"query parameter(s) {unknown} not supported here")

    @staticmethod
    def _json_body(req: _Request) -> Any:
        try:
            return json.loads(req.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise HubError(400, f"Invalid JSON body: {error}") from None

    def _wants_lfs(self, path: str, size: int, sample: bytes) -> bool:
        """Preupload's rule: LFS suffix, large file, or binary content."""
        return (
            path.lower().endswith(self.lfs_suffixes)
            or size >= self.lfs_threshold
            or b"\0" in sample
        )

    @staticmethod
    def _check_path(path: Any) -> str:
        if (
            not isinstance(path, str)
            or not path
            or path.startswith("/")
            or any(part in ("", ".", "..") for part in path.split("/"))
            or path.split("/")[0] == ".git"
        ):
            raise HubError(400, f"Invalid path in repo: {path!r}")
        return path

    def _sign(self, message: str) -> str:
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()[:32]

    def _apply_commit(
        self,
        repo: Repo,
        branch: str,
        *,
        message: str,
        additions: Mapping[str, tuple[bytes, bool]],
        base: str | None,
        deleted: Iterable[str] = (),
        description: str = "",
    ) -> Commit:
        """Write a commit on ``branch`` on top of ``base``: the one place history grows."""
        deleted = tuple(deleted)
        self._commit_counter += 1
        fingerprint = json.dumps(
            [
                base,
                branch,
                message,
                description,
                sorted((p, git_blob_oid(d), lfs) for p, (d, lfs) in additions.items()),
                deleted,
                self._commit_counter,
            ]
        )
        oid = hashlib.sha1(fingerprint.encode()).hexdigest()
        tree = dict(repo.trees[base]) if base is not None else {}
        for path in deleted:
            tree.pop(path, None)
        for path, (data, lfs) in additions.items():
            tree[path] = Blob(data, lfs, oid)
        commit = Commit(
            repo_id=repo.repo_id,
            revision=branch,
            message=message,
            files={path: data for path, (data, _) in additions.items()},
            oid=oid,
            description=description,
            parent=base,
            lfs_files=frozenset(path for path, (_, lfs) in additions.items() if lfs),
            deleted=deleted,
            date=_now(),
        )
        repo.trees[oid] = tree
        repo.branches[branch] = oid
        repo.history.append(commit)
        return commit

    # ------------------------------------------------------------------------------ endpoints
    def _whoami(self, req: _Request) -> _Response:
        user = self._require_caller(req)
        return _json_response(
            200,
            {
                "type": "user",
                "id": self._sign(f"user:{user}")[:24],
                "name": user,
                "fullname": user,
                "email": f"{user}@example.invalid",
                "emailVerified": True,
                "canPay": False,
                "isPro": False,
                "periodEnd": None,
                "avatarUrl": "",
                "orgs": [
                    {"type": "org", "name": org, "fullname": org, "roleInOrg": "write"}
                    for org in self.orgs
                ],
                "auth": {
                    "type": "access_token",
                    "accessToken": {
                        "displayName": "hub-standin",
                        "role": "write",
                        "createdAt": _now(),
                    },
                },
            },
        )

    def _create_repo(self, req: _Request) -> _Response:
        caller = self._require_caller(req)
        self._allow_params(req, ())
        payload = self._json_body(req)
        if not isinstance(payload, dict):
            raise HubError(400, "Invalid body")
        unknown = sorted(set(payload) - {"name", "organization", "type", "visibility", "private"})
        if unknown:
            raise self._unserved_error(f"create_repo field(s) {unknown} not supported")
        if payload.get("type", "model") != "model":
            raise self._unserved_error(f"only model repos are served, not {payload['type']!r}")
        name, namespace = payload.get("name"), payload.get("organization") or caller
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name.endswith(".git"):
            raise HubError(400, f"Invalid repo name: {name!r}")
        if not isinstance(namespace, str) or not _NAME_RE.fullmatch(namespace):
            raise HubError(400, f"Invalid namespace: {namespace!r}")
        visibility = payload.get("visibility")
        if visibility not in (None, "public", "private"):
            raise HubError(400, f"Invalid visibility for a model repo: {visibility!r}")
        if not self._can_write(caller, namespace):
            raise HubError(
                403,
                f'You don\'t have the rights to create a model under the namespace "{namespace}"',
            )
        repo_id = f"{namespace}/{name}"
        url = f"{self.url}/{repo_id}"
        with self._lock:
            if repo_id in self._repos:
                raise HubError(409, "You already created this model repo", payload={"url": url})
            repo = self.create_repo(
                repo_id, private=visibility == "private" or payload.get("private") is True
            )
        return _json_response(200, {"url": url, "name": repo_id, "id": repo.object_id})

    def _validate_yaml(self, req: _Request) -> _Response:
        self._caller(req)  # no login needed, but a wrong token is still a 401
        payload = self._json_body(req)
        if not isinstance(payload, dict) or not isinstance(payload.get("content"), str):
            raise HubError(400, "Invalid body")
        content: str = payload["content"]
        match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, flags=re.DOTALL)
        if match is None or not match.group(1).strip():
            return _json_response(
                200, {"errors": [], "warnings": [{"message": _NO_METADATA_WARNING}]}
            )
        try:
            import yaml  # a huggingface_hub dependency
        except ImportError:  # cannot check without it: accept, as before the Hub validated YAML
            return _json_response(200, {"errors": [], "warnings": []})
        try:
            metadata = yaml.safe_load(match.group(1))
        except yaml.YAMLError as error:
            problem = f"Invalid YAML in README.md metadata: {error}"
        else:
            if isinstance(metadata, dict):
                return _json_response(200, {"errors": [], "warnings": []})
            problem = "README.md metadata must be a YAML mapping"
        raise HubError(400, problem, payload={"errors": [{"message": problem}], "warnings": []})

    def _model_info(self, req: _Request, repo_id: str, revision: str | None) -> _Response:
        caller = self._caller(req)
        self._allow_params(req, ("blobs", "expand", "securityStatus"))
        with self._lock:
            repo = self._readable_repo(repo_id, caller)
            oid = self._commit_oid(repo, revision or "main")
            tree, commit = repo.trees[oid], repo.commit(oid)
            blobs = req.param("blobs") in ("true", "True", "1")
            siblings = []
            for path, blob in sorted(tree.items()):
                sibling: dict[str, Any] = {"rfilename": path}
                if blobs:
                    sibling.update(size=len(blob.data), blobId=blob.oid)
                    if blob.lfs:
                        sibling["lfs"] = {
                            "size": len(blob.data),
                            "sha256": blob.sha256,
                            "pointerSize": len(blob.pointer),
                        }
                siblings.append(sibling)
            info: dict[str, Any] = {
                "_id": repo.object_id,
                "id": repo_id,
                "modelId": repo_id,
                "author": repo_id.split("/")[0],
                "sha": oid,
                "lastModified": commit.date,
                "createdAt": repo.created_at,
                "private": repo.private,
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": siblings,
                "spaces": [],
                "usedStorage": sum(len(data) for data in repo.lfs_objects.values()),
            }
        expand = req.query.get("expand")
        if expand:
            unknown = sorted(set(expand) - set(info))
            if unknown:
                raise HubError(400, f"Invalid expand value(s): {unknown}")
            info = {key: info[key] for key in ("_id", "id", *expand)}
        return _json_response(200, info)

    def _tree(self, req: _Request, repo_id: str, revision: str, path: str) -> _Response:
        caller = self._caller(req)
        self._allow_params(req, ("recursive", "expand"))
        recursive = req.param("recursive") in ("true", "True", "1")
        expand = req.param("expand") in ("true", "True", "1")
        with self._lock:
            repo = self._readable_repo(repo_id, caller)
            tree = repo.trees[self._commit_oid(repo, revision)]
            prefix = f"{path.strip('/')}/" if path.strip("/") else ""
            below = {p: blob for p, blob in tree.items() if p.startswith(prefix)}
            if prefix and not below:
                raise HubError(404, f"{path} does not exist", code="EntryNotFound")
            folders: set[str] = set()
            files: list[str] = []
            for p in below:
                parts = p[len(prefix) :].split("/")
                if recursive:
                    folders.update(prefix + "/".join(parts[:i]) for i in range(1, len(parts)))
                    files.append(p)
                elif len(parts) == 1:
                    files.append(p)
                else:
                    folders.add(prefix + parts[0])
            entries: list[dict[str, Any]] = []
            for folder in sorted(folders):
                listing = sorted((p, b.oid) for p, b in tree.items() if p.startswith(folder + "/"))
                folder_oid = hashlib.sha1(json.dumps(listing).encode()).hexdigest()
                entries.append({"type": "directory", "oid": folder_oid, "size": 0, "path": folder})
            for p in sorted(files):
                blob = tree[p]
                entry: dict[str, Any] = {
                    "type": "file",
                    "oid": blob.oid,
                    "size": len(blob.data),
                    "path": p,
                }
                if blob.lfs:
                    entry["lfs"] = {
                        "oid": blob.sha256,
                        "size": len(blob.data),
                        "pointerSize": len(blob.pointer),
                    }
                if expand:
                    last = repo.commit(blob.last_commit)
                    entry["lastCommit"] = {"id": last.oid, "title": last.message, "date": last.date}
                entries.append(entry)
        return _json_response(200, entries)

    def _preupload(self, req: _Request, repo_id: str, revision: str) -> _Response:
        caller = self._require_caller(req)
        self._allow_params(req, ())  # create_pr=1 is not served
        payload = self._json_body(req)
        if not isinstance(payload, dict) or not isinstance(payload.get("files"), list):
            raise HubError(400, "Invalid body: expected {'files': [...]}")
        unknown = sorted(set(payload) - {"files", "gitIgnore"})
        if unknown:
            raise self._unserved_error(f"preupload field(s) {unknown} not supported")
        with self._lock:
            repo = self._writable_repo(repo_id, caller)
            head = self._branch_head(repo, revision)
            tree = repo.trees[head]
            answers = []
            for item in payload["files"]:
                if not (isinstance(item, dict) and isinstance(item.get("size"), int)):
                    raise HubError(400, f"Invalid file entry: {item!r}")
                path = self._check_path(item.get("path"))
                try:
                    sample = base64.b64decode(item.get("sample", ""), validate=True)
                except (binascii.Error, TypeError):
                    raise HubError(400, f"Invalid sample for {path}") from None
                lfs = self._wants_lfs(path, item["size"], sample[:512])
                answer: dict[str, Any] = {
                    "path": path,
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                }
                if path in tree:
                    answer["oid"] = tree[path].content_oid
                answers.append(answer)
        return _json_response(200, {"files": answers, "commitOid": head})

    def _commit(self, req: _Request, repo_id: str, revision: str) -> _Response:
        caller = self._require_caller(req)
        self._allow_params(req, ())  # create_pr=1 and hot_reload=1 are not served
        if not req.headers.get("Content-Type", "").startswith("application/x-ndjson"):
            raise self._unserved_error("the commit endpoint is served for NDJSON bodies only")
        try:
            lines = [json.loads(line) for line in req.body.splitlines() if line.strip()]
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise HubError(400, f"Invalid NDJSON body: {error}") from None
        if not lines or not isinstance(lines[0], dict) or lines[0].get("key") != "header":
            raise HubError(400, "The first NDJSON line must be the commit header")
        header = lines[0].get("value")
        if not isinstance(header, dict) or not isinstance(header.get("summary"), str):
            raise HubError(400, "Invalid commit header")
        unknown = sorted(set(header) - {"summary", "description", "parentCommit"})
        if unknown:
            raise self._unserved_error(f"commit header field(s) {unknown} not supported")
        message, description = header["summary"], header.get("description") or ""
        if not message.strip():
            raise HubError(400, "Commit summary must not be empty")
        with self._lock:
            repo = self._writable_repo(repo_id, caller)
            head = self._branch_head(repo, revision)
            parent = header.get("parentCommit")
            if parent is not None and parent != head:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            paths = set(repo.trees[head])
            additions: dict[str, tuple[bytes, bool]] = {}
            deleted: list[str] = []
            for line in lines[1:]:
                key = line.get("key") if isinstance(line, dict) else None
                value = line.get("value") if isinstance(line, dict) else None
                if not isinstance(value, dict):
                    raise HubError(400, f"Invalid NDJSON line: {line!r}")
                path = self._check_path(value.get("path"))
                if key == "file":
                    if value.get("encoding") != "base64":
                        raise self._unserved_error(f"file encoding {value.get('encoding')!r}")
                    try:
                        data = base64.b64decode(value.get("content", ""), validate=True)
                    except (binascii.Error, TypeError):
                        raise HubError(400, f"Invalid base64 content for {path}") from None
                    if data and self._wants_lfs(path, len(data), data[:512]):
                        raise HubError(
                            400,
                            f"Your push was rejected because {path} must be stored with LFS "
                            "(binary content, LFS suffix or large file), not as a regular git blob.",
                        )
                    additions[path] = (data, False)
                elif key == "lfsFile":
                    oid = value.get("oid")
                    if value.get("algo") != "sha256" or oid not in repo.lfs_objects:
                        raise HubError(
                            400,
                            "Your push was rejected because an LFS pointer pointed to a file that "
                            f"does not exist ({path}: {oid})",
                        )
                    data = repo.lfs_objects[oid]
                    if value.get("size", len(data)) != len(data):
                        raise HubError(400, f"LFS pointer size mismatch for {path}")
                    additions[path] = (data, True)
                elif key == "deletedFile":
                    if path not in paths:
                        raise HubError(
                            404,
                            f"A file with this name doesn't exist: {path}",
                            code="EntryNotFound",
                        )
                    deleted.append(path)
                elif key == "deletedFolder":
                    inside = sorted(p for p in paths if p.startswith(path.rstrip("/") + "/"))
                    if not inside:
                        raise HubError(
                            404,
                            f"A folder with this name doesn't exist: {path}",
                            code="EntryNotFound",
                        )
                    deleted.extend(inside)
                else:
                    raise self._unserved_error(f"commit operation {key!r} not supported")
            commit = self._apply_commit(
                repo,
                revision,
                message=message,
                additions=additions,
                base=head,
                deleted=deleted,
                description=description,
            )
            self._commits.append(commit)
        return _json_response(
            200,
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self.url}/{repo_id}/commit/{commit.oid}",
                "hookOutput": "",
                "pullRequestUrl": None,
            },
        )

    def _lfs_batch(self, req: _Request, repo_id: str) -> _Response:
        caller = self._require_caller(req)
        self._allow_params(req, ())
        payload = self._json_body(req)
        if not isinstance(payload, dict) or not isinstance(payload.get("objects"), list):
            raise HubError(400, "Invalid LFS batch request")
        if payload.get("operation") != "upload":
            raise self._unserved_error(f"LFS batch operation {payload.get('operation')!r}")
        if "basic" not in payload.get("transfers", ["basic"]):
            raise self._unserved_error(f"LFS transfers {payload.get('transfers')} (only 'basic')")
        if payload.get("hash_algo", "sha256") != "sha256":
            raise self._unserved_error(f"LFS hash_algo {payload.get('hash_algo')!r}")
        with self._lock:
            repo = self._writable_repo(repo_id, caller)
            objects = []
            for item in payload["objects"]:
                oid, size = (
                    (item.get("oid"), item.get("size")) if isinstance(item, dict) else (None, None)
                )
                if not (isinstance(oid, str) and _SHA256_RE.fullmatch(oid)) or not (
                    isinstance(size, int) and size >= 0
                ):
                    objects.append(
                        {
                            "oid": str(oid),
                            "size": size if isinstance(size, int) else 0,
                            "error": {"code": 422, "message": "Invalid object"},
                        }
                    )
                elif oid in repo.lfs_objects and len(repo.lfs_objects[oid]) == size:
                    objects.append({"oid": oid, "size": size})  # already stored: nothing to do
                else:
                    sig = self._sign(f"upload:{repo_id}:{oid}:{size}")
                    objects.append(
                        {
                            "oid": oid,
                            "size": size,
                            "authenticated": True,
                            "actions": {
                                "upload": {
                                    "href": f"{self.storage_url}/upload/{quote(repo_id)}/{oid}"
                                    f"?size={size}&sig={sig}",
                                    "expires_in": 3600,
                                },
                                "verify": {
                                    "href": f"{self.url}/{quote(repo_id)}.git/info/lfs/objects/verify",
                                },
                            },
                        }
                    )
        return _json_response(
            200,
            {"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
            content_type="application/vnd.git-lfs+json",
        )

    def _lfs_verify(self, req: _Request, repo_id: str) -> _Response:
        caller = self._require_caller(req)
        self._allow_params(req, ())
        payload = self._json_body(req)
        oid, size = (
            (payload.get("oid"), payload.get("size")) if isinstance(payload, dict) else (None, None)
        )
        with self._lock:
            repo = self._writable_repo(repo_id, caller)
            if not isinstance(oid, str) or oid not in repo.lfs_objects:
                raise HubError(404, f"LFS object {oid} not found")
            if len(repo.lfs_objects[oid]) != size:
                raise HubError(
                    422, f"LFS object {oid} has size {len(repo.lfs_objects[oid])}, not {size}"
                )
            for upload in self._lfs_uploads:
                if upload.repo_id == repo_id and upload.oid == oid:
                    upload.verified = True
        return _json_response(200, {"success": True}, content_type="application/vnd.git-lfs+json")

    def _storage_put(self, req: _Request, repo_id: str, oid: str) -> _Response:
        if "Authorization" in req.headers:
            raise HubError(
                400, "Only one auth mechanism allowed (presigned URL plus Authorization)"
            )
        size = req.param("size")
        sig = req.param("sig") or ""
        if size is None or not hmac.compare_digest(
            sig, self._sign(f"upload:{repo_id}:{oid}:{size}")
        ):
            raise HubError(403, "SignatureDoesNotMatch")
        if len(req.body) != int(size):
            raise HubError(
                400, f"IncompleteBody: got {len(req.body)} bytes, the upload is for {size}"
            )
        if hashlib.sha256(req.body).hexdigest() != oid:
            raise HubError(400, "BadDigest: the sha256 of the uploaded bytes is not the LFS oid")
        with self._lock:
            repo = self._repos[repo_id]
            repo.lfs_objects[oid] = req.body
            self._lfs_uploads.append(LfsUpload(repo_id, oid, len(req.body)))
        return _Response(200, headers={"ETag": f'"{hashlib.md5(req.body).hexdigest()}"'})

    def _storage_get(self, req: _Request, repo_id: str, oid: str) -> _Response:
        if "Authorization" in req.headers:
            raise HubError(
                400, "Only one auth mechanism allowed (presigned URL plus Authorization)"
            )
        sig = req.param("sig") or ""
        if not hmac.compare_digest(sig, self._sign(f"download:{repo_id}:{oid}")):
            raise HubError(403, "SignatureDoesNotMatch")
        with self._lock:
            data = self._repos[repo_id].lfs_objects[oid]
        headers = {"Content-Type": "application/octet-stream", "ETag": f'"{oid}"'}
        return self._ranged(req, data, headers)

    def _resolve(self, req: _Request, repo_id: str, revision: str, filename: str) -> _Response:
        caller = self._caller(req)
        self._allow_params(req, ())
        with self._lock:
            repo = self._readable_repo(repo_id, caller)
            oid = self._commit_oid(repo, revision)
            blob = repo.trees[oid].get(filename)
        headers = {"X-Repo-Commit": oid, "Accept-Ranges": "bytes"}
        if blob is None:
            raise HubError(404, "Entry not found", code="EntryNotFound", headers=headers)
        if blob.lfs:
            sig = self._sign(f"download:{repo_id}:{blob.sha256}")
            location = f"{self.storage_url}/lfs/{quote(repo_id)}/{blob.sha256}?sig={sig}"
            headers.update(
                {
                    "Location": location,
                    "ETag": f'"{blob.oid}"',
                    "X-Linked-Etag": f'"{blob.sha256}"',
                    "X-Linked-Size": str(len(blob.data)),
                    "Content-Type": "text/plain; charset=utf-8",
                }
            )
            return _Response(302, f"Found. Redirecting to {location}".encode(), headers)
        try:
            blob.data.decode()
            content_type = "text/plain; charset=utf-8"
        except UnicodeDecodeError:
            content_type = "application/octet-stream"
        headers.update({"ETag": f'"{blob.oid}"', "Content-Type": content_type})
        return self._ranged(req, blob.data, headers)

    @staticmethod
    def _ranged(req: _Request, data: bytes, headers: dict[str, str]) -> _Response:
        """Whole body, or the one byte range asked for (the client resumes with ``Range``)."""
        header = req.headers.get("Range")
        if header is None:
            return _Response(200, data, headers)
        match = _RANGE_RE.fullmatch(header.strip())
        total = len(data)
        if match is None or match.group(1) == match.group(2) == "":
            raise HubError(
                416, f"Invalid range {header!r}", headers={"Content-Range": f"bytes */{total}"}
            )
        if match.group(1) == "":
            start, end = max(0, total - int(match.group(2))), total - 1
        else:
            start = int(match.group(1))
            end = min(int(match.group(2)), total - 1) if match.group(2) else total - 1
        if start >= total or start > end:
            raise HubError(
                416,
                f"Range {header!r} not satisfiable",
                headers={"Content-Range": f"bytes */{total}"},
            )
        ranged = {**headers, "Content-Range": f"bytes {start}-{end}/{total}"}
        return _Response(206, data[start : end + 1], ranged)
