"""Models published with ``zoo publish``, used by their Hub address: ``hf://OWNER/REPO[@REVISION]``
is a model spec, as timm's ``hf-hub:`` prefix is.

A repository written by ``zoo publish`` holds a release: ``weights.json`` (the declaration, in
the format :func:`zoo.meta.weights_index` reads: the model, the weights' name and sha256), an
export directory's ``manifest.json`` and ONNX files, the safetensors file and the model card.
The first use downloads ``weights.json``, ``manifest.json``, the float32 ONNX file and
``verification.npz`` (what ``zoo verify`` re-checks it on) into
``$ZOO_HOME/hub/OWNER--REPO/REVISION``, checks the ONNX file against the manifest and the
manifest's card against the declaration, and renames the folder into place (it is whole or
absent). Every later use checks the ONNX file against the manifest's sha256 again before it runs;
a copy that differs is removed (and downloaded again), with a note. The weights, when PyTorch needs them, go where declared weights go
(``$ZOO_HOME/weights/MODEL-NAME-<12 hex>.safetensors``), checked against the declared sha256.
Later uses read the cache and never touch the network; ``zoo weights fetch hf://...`` asks the
Hub again. No torch here: ``zoo predict hf://...`` runs the ONNX file with ONNX Runtime alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from zoo.artifacts.checkpoint import read_card
from zoo.artifacts.manifest import CHECKS_FILE, MANIFEST, Manifest
from zoo.errors import ArgumentError, CacheDamaged, UnknownNameError, ZooError, first_line
from zoo.meta import DEFAULT_WEIGHTS, Weights, coerce
from zoo.registry import get_registry
from zoo.weights.declared import (
    Located,
    Progress,
    check_model,
    check_sha256,
    download,
    weights_for,
)
from zoo.weights.home import HUB, cache_file, home, writable_cache

PREFIX = "hf://"
INDEX = "weights.json"  # a release's declaration, as weights_index reads it
INSTALL = "install huggingface_hub (pip install 'torch-zoo[hub]')"
CONNECT_TIMEOUT_S = 5


def is_hub_spec(spec: str | None) -> bool:
    """Whether a command's model argument names a Hub repository (``hf://OWNER/REPO``)."""
    return bool(spec) and str(spec).startswith(PREFIX)


@dataclass(frozen=True)
class HubRepo:
    """A model repository on the Hub, at a revision (a branch, tag or commit; "" for main)."""

    owner: str
    name: str
    revision: str = ""

    @property
    def repo_id(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def spec(self) -> str:
        """``hf://OWNER/REPO[@REVISION]``, as users write it."""
        return PREFIX + self.repo_id + (f"@{self.revision}" if self.revision else "")

    def address(self, path: str, revision: str | None = None) -> str:
        """The ``hf://OWNER/REPO/PATH[@REVISION]`` address of one of its files."""
        at = revision if revision is not None else self.revision
        return f"{PREFIX}{self.repo_id}/{path}" + (f"@{at}" if at else "")

    @property
    def folder(self) -> Path:
        """Where its release is cached: ``$ZOO_HOME/hub/OWNER--REPO/REVISION``."""
        revision = quote(self.revision or "main", safe="")
        return home() / HUB / f"{self.owner}--{self.name}" / revision


def parse(spec: str) -> HubRepo:
    """``hf://OWNER/REPO[@REVISION]`` as a :class:`HubRepo`; anything else is one line."""
    body, _, revision = spec.removeprefix(PREFIX).partition("@")
    parts = body.strip("/").split("/")
    if not spec.startswith(PREFIX) or len(parts) != 2 or not all(parts) or "@" in revision:
        raise ArgumentError(
            f"'{spec}' is not a Hub model: write hf://OWNER/REPO or hf://OWNER/REPO@REVISION"
        )
    return HubRepo(parts[0], parts[1], revision)


@dataclass(frozen=True)
class Release:
    """A release folder written by ``zoo publish``: its one declaration and its export."""

    folder: Path
    model: str
    weights: Weights
    manifest: Manifest

    def onnx(self) -> Path:
        """The float32 ONNX file, checked against the manifest's sha256."""
        entry = self.manifest.file("onnx")
        if entry is None:
            raise ZooError(f"the release in {self.folder} holds no float32 ONNX file")
        return self.manifest.checked_path(self.folder, entry)


def read_release(folder: Path, where: str) -> Release:
    """A release's ``weights.json`` and ``manifest.json``, checked to describe the same file."""
    path = folder / INDEX
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ZooError(f"{where}: {INDEX} is missing or damaged ({first_line(exc)})") from None
    declared = [(m, d) for m, items in dict(index).items() for d in items]
    if len(declared) != 1:
        raise ZooError(f"{where}: {INDEX} must declare one set of weights, not {len(declared)}")
    model, data = declared[0]
    try:
        weights = coerce(Weights, data)
    except TypeError as exc:
        raise ZooError(f"{where}: {INDEX} is invalid: {exc}") from None
    manifest = Manifest.read(folder)
    if manifest.card.weights_sha256 != weights.sha256 or not weights.file:
        raise ZooError(f"{where}: {MANIFEST} was exported from other weights than {INDEX} declares")
    return Release(folder, model, weights, manifest)


def cached(repo: HubRepo) -> tuple[Release, Path] | None:
    """The release already downloaded for ``repo`` and its ONNX file, checked against the
    manifest's sha256 before every use; None when there is none. A damaged copy is removed, so
    that it is downloaded again, and :class:`CacheDamaged` says so."""
    if not (repo.folder / INDEX).is_file():
        return None
    try:
        release = read_release(repo.folder, repo.spec)
        return release, release.onnx()
    except ZooError as exc:
        shutil.rmtree(repo.folder, ignore_errors=True)
        raise CacheDamaged(
            f"the cached release {repo.folder} was damaged ({exc}); removed"
        ) from None


def release(spec: str, refresh: bool = False, say: Callable[[str], None] | None = None) -> Release:
    """The release of ``spec``: from the cache, else (or with ``refresh``) from the Hub."""
    repo = parse(spec)
    try:
        found = None if refresh else cached(repo)
    except CacheDamaged as exc:
        found = None
        if say is not None:
            say(f"note: {exc}")
    if found is not None:
        return found[0]
    if say is not None:
        say(f"downloading the release {repo.spec} from the Hugging Face Hub, once…")
    writable_cache(repo.folder.parent)
    scratch = repo.folder.with_name(f".{repo.folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        for name in (INDEX, MANIFEST):
            hub_file(repo, name, scratch / name)
        entry = Manifest.read(scratch).file("onnx")
        if entry is not None:
            hub_file(repo, entry.path, scratch / entry.path)
        hub_file(repo, CHECKS_FILE, scratch / CHECKS_FILE)  # what `zoo verify` checks it on
        read_release(scratch, repo.spec).onnx()
        replace_folder(scratch, repo.folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return read_release(repo.folder, repo.spec)


def replace_folder(new: Path, folder: Path) -> None:
    """Put ``new`` where ``folder`` is, whole (an older copy is removed after the rename)."""
    old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    if folder.exists():
        os.replace(folder, old)
    try:
        os.replace(new, folder)
    except OSError:  # another process got there first: its copy is as good
        if cached_folder_ok(folder):
            return
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def cached_folder_ok(folder: Path) -> bool:
    return (folder / INDEX).is_file() and (folder / MANIFEST).is_file()


def hub_file(repo: HubRepo, filename: str, destination: Path) -> None:
    """One file of ``repo`` through huggingface_hub (its own cache, token and endpoint), copied
    to ``destination``; each way it can fail is one line. An endpoint that cannot be reached
    is found out at once (huggingface_hub would retry for half a minute) and only its local
    cache is asked."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise ZooError(f"{repo.spec} is on the Hugging Face Hub: {INSTALL}") from None
    offline = not reachable()
    try:
        with quiet_hub():
            local = hf_hub_download(
                repo.repo_id, filename, revision=repo.revision or None, local_files_only=offline
            )
    except Exception as exc:  # huggingface_hub's own errors, offline ones included
        raise ZooError(hub_error(repo, filename, exc)) from None
    shutil.copyfile(local, destination)


def reachable() -> bool:
    """Whether the Hub's endpoint accepts a connection (True when a proxy stands between, or
    in huggingface_hub's offline mode, which answers for itself)."""
    import socket
    import urllib.request
    from urllib.parse import urlparse

    from huggingface_hub import constants

    address = urlparse(constants.ENDPOINT)
    host = address.hostname or ""
    proxied = bool(urllib.request.getproxies()) and not urllib.request.proxy_bypass(host)
    if constants.HF_HUB_OFFLINE or proxied:
        return True
    port = address.port or (443 if address.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def quiet_hub() -> Iterator[None]:
    """huggingface_hub's own warnings (retries) held back: the error, if any, is one line."""
    import logging

    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hub_logger.setLevel(level)


def hub_error(repo: HubRepo, filename: str, exc: Exception) -> str:
    """What a failed Hub download means, by the kind of error huggingface_hub raised."""
    kinds = {kind.__name__ for kind in type(exc).__mro__}
    if "LocalEntryNotFoundError" in kinds or "OfflineModeIsEnabled" in kinds:
        return (
            f"{repo.spec}: cannot download {repo.address(filename)} (no connection to the Hub, "
            f"and it is not cached); run 'zoo weights fetch {repo.spec}' online first, or put "
            f"the release's files at {repo.folder} by hand"
        )
    if "RemoteEntryNotFoundError" in kinds or "EntryNotFoundError" in kinds:
        return f"{repo.spec} has no {filename}: it is not a release written by 'zoo publish'"
    if "RevisionNotFoundError" in kinds:
        return f"{repo.repo_id} on the Hub has no revision '{repo.revision}'"
    if "RepositoryNotFoundError" in kinds:
        return (
            f"no model repository {repo.repo_id} on the Hub (or it is private: log in with "
            "'hf auth login' or set HF_TOKEN)"
        )
    return (
        f"{repo.spec}: cannot download {repo.address(filename)} ({first_line(exc)}); run "
        f"'zoo weights fetch {repo.spec}' online first, or put the release's files at "
        f"{repo.folder} by hand"
    )


def release_to_verify(spec: str, say: Callable[[str], None] | None = None) -> Path:
    """The folder of ``spec``'s release, as ``zoo predict`` uses it, with everything ``zoo
    verify`` re-checks it on (a release cached before verification.npz was kept is fetched
    again)."""
    found = release(spec, say=say)
    if not (found.folder / CHECKS_FILE).is_file():
        found = release(spec, refresh=True, say=say)
    return found.folder


def cached_onnx(spec: str) -> Path | None:
    """The cached ONNX file of ``spec``, without the network; None when not downloaded yet."""
    found = cached(parse(spec))
    return None if found is None else found[1]


def onnx_path(spec: str, say: Callable[[str], None] | None = None) -> Path:
    """The float32 ONNX file of ``spec``'s release, downloaded once (for ``zoo predict``)."""
    return release(spec, say=say).onnx()


def one_set(spec: str, weights: str | None) -> None:
    """A release publishes one set of weights: naming others is an error."""
    if weights not in (None, DEFAULT_WEIGHTS):
        raise ArgumentError(f"{spec} publishes one set of weights: leave out --weights")


def trained_weights(name: str, weights: str | None) -> Located:
    """What ``name`` and ``weights`` mean as a checked local file, the one answer for the resolver
    (:mod:`zoo.sources`) and ``zoo.create_model``: a Hub release's weights, else the weights model
    ``name`` declares (``weights``: a name, ``default``) or a file."""
    if is_hub_spec(name):
        one_set(name, weights)
        return release_weights(name)
    return weights_for(name, weights or DEFAULT_WEIGHTS)


def release_weights(spec: str, progress: Progress | None = None, refresh: bool = False) -> Located:
    """``spec``'s weights as a verified local file, like declared weights
    (:func:`zoo.weights.declared.weights_for`); the card must name a model registered here."""
    found = release(spec, refresh=refresh)
    repo = parse(spec)
    try:
        entry = get_registry().resolve("model", found.model)
    except UnknownNameError:
        raise ZooError(
            f"{repo.spec} holds weights of model '{found.model}', which no installed plugin "
            f"registers: install the plugin that provides '{found.model}' (zoo predict "
            f"{repo.spec} needs none)"
        ) from None
    declared = found.weights
    path = cache_file(entry.name, declared)
    where = f"{repo.spec} weights '{declared.name}'"
    if not path.is_file():
        writable_cache(path.parent)
        download(repo.address(declared.file), path, declared, where, progress)
    check_sha256(path, declared, remove=True, where=where)
    located = Located(path, read_card(path), entry.name, declared)
    check_model(located)
    return located


def cached_releases() -> list[Release | Path]:
    """Every release in the cache (a folder that does not read as one, as its path)."""
    root = home() / HUB
    found: list[Release | Path] = []
    for folder in sorted(root.glob("*/*")) if root.is_dir() else []:
        with contextlib.suppress(ZooError):
            found.append(read_release(folder, str(folder)))
            continue
        found.append(folder)
    return found
