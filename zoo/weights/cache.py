"""The engine of ``zoo weights``: zoo's cache of downloaded weights, predict exports and Hub releases.

Three folders of ``$ZOO_HOME`` hold what zoo downloads or derives: ``weights/`` (declared URL
weights and Hub releases' weights, ``MODEL-NAME-<12 hex>.safetensors``), ``predict/`` (one
verified ONNX export per model, weights and plugin version, made by ``zoo predict MODEL``) and
``hub/`` (the releases ``hf://OWNER/REPO`` names). Each entry is *used* when an installed model
still declares it (or, for a Hub release, when its model is still registered); ``prune``
removes the others: the exports of a plugin's older versions, the files of weights no longer
declared, unfinished downloads. ``fetch`` downloads declared weights ahead of use, for machines
that will be offline; the engine reports each download's progress to a callback.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from zoo.artifacts.manifest import Manifest
from zoo.errors import ArgumentError, ZooError
from zoo.meta import DEFAULT_WEIGHTS, Weights
from zoo.registry import Entry, get_model_info, get_registry
from zoo.weights import releases
from zoo.weights.declared import Progress, declaration, fetch
from zoo.weights.home import HUB, PREDICT, cache_file, home, predict_folder, weights_dir

FRESH_S = 600  # a hidden (temporary) entry younger than this may be a download under way
ProgressFor = Callable[[str], Progress | None]  # a progress callback for each download, by label


@dataclass(frozen=True)
class CacheEntry:
    """One file or folder of the cache, its size, and what uses it ("" for nothing)."""

    kind: str  # weights, predict or hub
    path: Path
    bytes: int
    used_by: str

    @property
    def stale(self) -> bool:
        return not self.used_by


def size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def declared_uses() -> dict[Path, str]:
    """Every cache path an installed model's declarations use, and by what (its module is
    imported, as ``zoo list models --with-weights`` does)."""
    uses: dict[Path, str] = {}
    for entry in get_registry().entries("model"):
        try:
            declared = get_model_info(entry.qualified_name).weights
        except ZooError:  # a broken plugin: zoo plugins reports it
            continue
        for position, weights in enumerate(declared):
            label = f"{entry.name} weights '{weights.name}'"
            if weights.url:
                uses[cache_file(entry.name, weights)] = label
            names = [weights.name] + ([DEFAULT_WEIGHTS] if position == 0 else [])
            for name in names:
                folder = predict_folder(entry.qualified_name, name)
                uses[folder] = f"zoo predict {entry.name} --weights {name}"
    return uses


def hub_uses() -> dict[Path, str]:
    """Cached Hub releases whose model is registered, and the weights files they downloaded."""
    uses: dict[Path, str] = {}
    registry = get_registry()
    for found in releases.cached_releases():
        if not isinstance(found, releases.Release) or not registry.claims("model", found.model):
            continue
        owner, _, name = found.folder.parent.name.partition("--")
        revision = unquote(found.folder.name)
        spec = releases.HubRepo(owner, name, "" if revision == "main" else revision).spec
        uses[found.folder] = spec
        uses[cache_file(found.model, found.weights)] = spec
    return uses


def file_predict_use(folder: Path) -> str:
    """A ``zoo predict MODEL --weights FILE`` export: used while its model is registered and
    zoo is the version that made it."""
    from zoo.machine import zoo_version

    try:
        manifest = Manifest.read(folder)
    except ZooError:
        return ""
    certificate = manifest.files[0].certificate if manifest.files else None
    made_by = certificate.versions.get("zoo") if certificate is not None else None
    model = manifest.card.model.rpartition(":")[2]
    if made_by != zoo_version() or not get_registry().claims("model", model):
        return ""
    return f"zoo predict {model} --weights FILE.safetensors"


def entries() -> list[CacheEntry]:
    """Everything in the cache, with what uses each entry."""
    uses = declared_uses() | hub_uses()
    found = []
    for kind, folder in (
        ("weights", weights_dir()),
        (PREDICT, home() / PREDICT),
        ("hub", home() / HUB),
    ):
        items = sorted(folder.glob("*/*" if kind == "hub" else "*")) if folder.is_dir() else []
        for path in items:
            used = uses.get(path, "")
            if not used and path.name.startswith("."):
                used = (
                    "a download under way" if time.time() - path.stat().st_mtime < FRESH_S else ""
                )
            elif not used and kind == PREDICT and "-file-" in path.name:
                used = file_predict_use(path)
            found.append(CacheEntry(kind, path, size(path), used))
    return found


def prune(dry_run: bool = False) -> list[CacheEntry]:
    """Remove every entry nothing uses (``dry_run``: only say which); the entries removed."""
    stale = [entry for entry in entries() if entry.stale]
    if dry_run:
        return stale
    for entry in stale:
        if entry.path.is_dir():
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            entry.path.unlink(missing_ok=True)
    hub = home() / HUB
    for folder in hub.glob("*") if hub.is_dir() else []:
        with contextlib.suppress(OSError):
            folder.rmdir()  # an OWNER--REPO folder left empty
    return stale


@dataclass(frozen=True)
class Fetched:
    """One thing ``zoo weights fetch`` got (or could not)."""

    label: str
    path: Path | None
    bytes: int = 0
    note: str = ""
    error: str = ""


def fetch_all(spec: str | None, name: str | None, progress_for: ProgressFor) -> list[Fetched]:
    """Download ``spec``'s declared weights (every installed model's, with no ``spec``), or a
    Hub release and its weights, now; one result per file."""
    if releases.is_hub_spec(spec):
        if name is not None:
            raise ArgumentError(f"--name goes with a model: {spec} publishes one set of weights")
        return fetch_release(str(spec), progress_for)
    if name is not None and spec is None:
        raise ArgumentError("--name goes with MODEL: zoo weights fetch MODEL --name NAME")
    results = []
    for entry, weights in wanted(spec, name, results):
        label = f"{entry.name} weights '{weights.name}'"
        try:
            path = fetch(entry, weights, None if weights.file else progress_for(label))
        except ZooError as exc:
            results.append(Fetched(label, None, error=str(exc)))
            continue
        note = "inside its package" if weights.file else ""
        results.append(Fetched(label, path, path.stat().st_size, note))
    return results


def wanted(
    spec: str | None, name: str | None, failed: list[Fetched]
) -> list[tuple[Entry, Weights]]:
    """The declarations to fetch; a model whose metadata is broken goes into ``failed``."""
    if spec is not None and name is not None:
        return [declaration(spec, name)]
    models = [get_registry().resolve("model", spec)] if spec else get_registry().entries("model")
    found = []
    for entry in models:
        try:
            declared = get_model_info(entry.qualified_name).weights
        except ZooError as exc:
            failed.append(Fetched(entry.name, None, error=str(exc)))
            continue
        found += [(entry, weights) for weights in declared]
    if spec and not found and not failed:
        declaration(spec, DEFAULT_WEIGHTS)  # raises: no weights, and why
    return found


def fetch_release(spec: str, progress_for: ProgressFor) -> list[Fetched]:
    """A Hub release asked for again (its ONNX file), and its weights when the model is
    registered here (PyTorch needs them; zoo predict does not)."""
    release = releases.release(spec, refresh=True)
    onnx = release.onnx()
    results = [Fetched(f"{spec} ONNX", onnx, onnx.stat().st_size, "for zoo predict")]
    label = f"{spec} weights"
    if not get_registry().claims("model", release.model):
        note = f"not fetched: model '{release.model}' is not installed (zoo predict needs none)"
        return [*results, Fetched(label, None, note=note)]
    try:
        located = releases.release_weights(spec, progress_for(label))
    except ZooError as exc:
        return [*results, Fetched(label, None, error=str(exc))]
    return [*results, Fetched(label, located.path, located.path.stat().st_size)]
