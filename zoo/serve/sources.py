"""What ``zoo serve`` and ``zoo model-repo`` are given (resolved by :mod:`zoo.sources`, as every
command's argument is), as files they may serve: an export directory (the file ``zoo optimize``
chose there, with its runtime and settings, else its float32 ONNX file), one ONNX or OpenVINO
file listed in an export's manifest, an ``hf://`` release (downloaded once), or trained weights
(a model's, a run's, a checkpoint: exported once and cached, as ``zoo predict`` does). Every
file is checked against its manifest's sha256 before anything runs it; a file that differs is
one line, never a served model.

Trained weights are exported in a child process on first use: the export needs PyTorch, the
server never imports it (nor keeps its memory).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import zoo.sources as resolver
from zoo.artifacts.manifest import Manifest, ManifestFile
from zoo.deployed import chosen
from zoo.errors import CacheDamaged, ZooError
from zoo.predict.cache import PREDICTS, onnx_file
from zoo.sources import ExportDirectory, ExportFile, HubRelease, OnnxFile, names_model
from zoo.weights.releases import release

Say = Callable[[str], None]
FORMATS = {"onnx": "onnxruntime", "openvino": "openvino"}  # what zoo serve runs, and with what
# the child that exports a model's weights once (zoo.predict.cache, as `zoo predict MODEL`)
EXPORT_CHILD = """
import sys
from zoo.errors import ZooError
from zoo.predict.cache import prepare
from zoo.sources import resolve
try:
    source = resolve(sys.argv[1], sys.argv[2] or None)
    path = prepare(source, [], lambda text: print(text, file=sys.stderr, flush=True))
except ZooError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)
print(path)
"""


@dataclass(frozen=True)
class Served:
    """One file to serve, checked: its name on the server, what the user named, the export
    directory holding it, the manifest entry it matched, and how to run it (the runtime, and
    where ``zoo optimize`` decided, its threads and settings)."""

    name: str
    source: str
    directory: Path
    manifest: Manifest
    entry: ManifestFile
    path: Path
    runtime: str  # "onnxruntime" or "openvino"
    threads: int | None = None  # the decision's
    settings: Mapping[str, str] = field(default_factory=dict)  # the decision's, for the runtime
    decided: str = ""  # what zoo optimize chose, in words; "" without a decision


def resolve(sources: tuple[str, ...], weights: str | None, runtime: str, say: Say) -> list[Served]:
    """Every source as a checked file; two sources that would share a name are one line."""
    if weights is not None and not any(names_model(s) for s in sources):
        resolver.with_weights(sources[0], weights)  # raises: --weights goes with a model name
    served: list[Served] = []
    for source in sources:
        item = resolve_one(source, weights, runtime, say)
        clash = next((s for s in served if s.name == item.name), None)
        if clash is not None:
            raise ZooError(
                f"'{clash.source}' and '{source}' would both be served as '{item.name}': "
                "serve them from two servers"
            )
        served.append(item)
    return served


def resolve_one(spec: str, weights: str | None, runtime: str, say: Say) -> Served:
    """What ``spec`` names (:func:`zoo.sources.resolve`: what ``zoo predict`` takes), as the
    checked file to serve."""
    weights = weights if names_model(spec) else None
    source = resolver.resolve(spec, weights, accept=PREDICTS, command="zoo serve")
    if isinstance(source, HubRelease):
        found = release(spec, say=say)
        return checked(spec, found.folder, found.manifest, None, runtime)
    if isinstance(source, ExportDirectory):
        return checked(spec, source.path, source.manifest, None, runtime)
    if isinstance(source, ExportFile):
        return checked(spec, source.export_dir, source.manifest, source.entry.path, runtime)
    if isinstance(source, OnnxFile):
        raise ZooError(
            f"'{spec}' is not listed in a zoo export's manifest.json, so it cannot be checked "
            "(zoo serve runs only files it can check): serve its export directory"
        )
    onnx = exported_once(spec, weights, say)  # a model's weights, a run's, a checkpoint
    return checked(spec, onnx.parent, Manifest.read(onnx.parent), None, runtime)


def checked(
    source: str, directory: Path, manifest: Manifest, file: str | None, runtime: str
) -> Served:
    """The file to serve from ``directory`` (:func:`zoo.deployed.chosen`: ``file``, else the file
    ``zoo optimize`` chose, with its runtime, threads and settings, else the float32 ONNX file);
    refused when it is missing, differs from the manifest or cannot run without PyTorch."""
    found = chosen(directory, manifest, file, named=source)
    entry, run = found.entry, found.run
    if entry.format not in FORMATS:
        chose = "zoo optimize chose" if run is not None else "it is"
        raise ZooError(
            f"'{source}': {chose} a {entry.format} file, which needs PyTorch; zoo serve runs "
            "ONNX and OpenVINO files: serve an ONNX file of the export"
        )
    runs_with = runtime_for(entry.format, runtime, run.runtime if run else None)
    name = manifest.card.model + ("" if entry.precision == "fp32" or run else f"-{entry.precision}")
    served = Served(name, source, directory, manifest, entry, found.path, runs_with)
    if run is not None and runs_with == run.runtime:
        return replace(served, threads=run.threads, settings=run.settings, decided=run.text())
    return served


def runtime_for(fmt: str, asked: str, decided: str | None) -> str:
    """The runtime that runs a file of ``fmt``: the one asked for, else the decision's, else
    the format's own; an OpenVINO IR runs in OpenVINO only."""
    chosen = asked if asked != "auto" else decided or FORMATS[fmt]
    if fmt == "openvino" and chosen != "openvino":
        raise ZooError("an OpenVINO IR runs with --runtime openvino (or auto), not " + chosen)
    return chosen


def exported_once(spec: str, weights: str | None, say: Say) -> Path:
    """The cached ONNX export of the weights ``spec`` (and ``weights``) name, as ``zoo predict``
    keeps it, made by a child process the first time (what it says goes to ``say``): this
    process stays free of PyTorch."""
    try:
        found = onnx_file(resolver.resolve(spec, weights).predict_folder)
    except CacheDamaged as exc:  # removed: exported again below
        say(f"note: {exc}")
        found = None
    if found is not None:
        return found
    child = subprocess.Popen(
        [sys.executable, "-c", EXPORT_CHILD, spec, weights or ""],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None and child.stdout is not None
    last = ""
    for line in child.stderr:
        last = line.rstrip("\n")
        if not last.startswith("error: "):
            say(last)
    output = child.stdout.read().strip()
    if child.wait() != 0:
        raise ZooError(last.removeprefix("error: ") or f"exporting {spec} failed")
    return Path(output.splitlines()[-1])
