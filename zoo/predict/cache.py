"""``zoo predict`` on trained weights: an ONNX export of them, made once and cached.

The first call exports the weights to ONNX (verified against eager PyTorch, as ``zoo export``
does) into their predict folder, ``$ZOO_HOME/predict/KEY`` (:func:`zoo.weights.home.
predict_folder`). Later calls find that folder from registry metadata alone: the distribution that
registers the model and its version, the entry's target, the weights asked for and zoo's version
make the key. Neither the plugin's module nor torch is imported then, so a prediction takes ONNX
Runtime's time, not PyTorch's start-up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from zoo.artifacts.manifest import checked_file
from zoo.errors import CacheDamaged, ZooError
from zoo.sources import (
    DeclaredWeights,
    ExportDirectory,
    ExportFile,
    HubRelease,
    OnnxFile,
    RunDirectory,
    Source,
    WeightsFile,
)
from zoo.weights import releases
from zoo.weights.home import writable_cache

Say = Callable[[str], None]
# what zoo predict takes: a file to run as it is, or weights it exports once
PREDICTS = (
    ExportDirectory,
    ExportFile,
    OnnxFile,
    RunDirectory,
    WeightsFile,
    DeclaredWeights,
    HubRelease,
)


def cached(source: Source) -> Path | None:
    """The file a prediction runs if it is here already, found without the network, the
    plugin's module or torch (the quick path); None when the full command must make it."""
    if isinstance(source, HubRelease):
        return source.cached_onnx()
    if isinstance(source, (DeclaredWeights, WeightsFile)):
        return onnx_file(source.predict_folder)
    return None


def file_for(source: Source, inputs: list[str], say: Say) -> Path:
    """What ``zoo predict`` runs: an ONNX file as it is, an export directory (the file ``zoo
    optimize`` chose, else its float32 ONNX file), a release's ONNX file (downloaded once), else
    the cached export of the weights, made on first use."""
    if isinstance(source, HubRelease):
        return releases.onnx_path(source.spec, say)
    if isinstance(source, ExportDirectory):
        return source.path
    if isinstance(source, ExportFile):
        return source.onnx_file()  # checked against its manifest
    if isinstance(source, OnnxFile):
        return source.path
    return prepare(source, inputs, say)


def onnx_file(folder: Path) -> Path | None:
    """The ONNX file of a cache folder, checked against its manifest's sha256; None when there
    is none yet (folders appear whole, renamed into place). A damaged folder is removed, so the
    next export replaces it, and :class:`CacheDamaged` says so."""
    if not folder.is_dir():
        return None
    try:
        return checked_file(folder)
    except ZooError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise CacheDamaged(f"the cached export {folder} was damaged ({exc}); removed") from None


def prepare(source: Source, inputs: list[str], say: Say) -> Path:
    """The ONNX file of ``source``'s weights: from the cache, else exported, verified and cached
    (``say`` tells the user, with the time it took). The weights and the ``inputs`` are checked
    before that work starts: a wrong name or a missing image costs no export."""
    folder = source.predict_folder
    try:
        found = onnx_file(folder)
    except CacheDamaged as exc:
        say(f"note: {exc}")
        found = None
    if found is not None:
        return found
    writable_cache(folder.parent)
    check_inputs(source, inputs)
    say(f"first use of {source.label}: exporting to ONNX for ONNX Runtime…")
    started = time.perf_counter()
    export_into(folder, source)
    seconds = time.perf_counter() - started
    say(f"exported and verified in {seconds:.1f} s; cached in {folder} (later calls start at once)")
    path = onnx_file(folder)
    if path is None:
        raise ZooError(f"the export into {folder} left no ONNX file")
    return path


def check_inputs(source: Source, inputs: list[str]) -> None:
    """Read every input as the weights' card prepares it (the weights are fetched and checked
    on the way): the errors the prediction would give, before the export."""
    from zoo.predict.onnx import read_input

    preprocessing = source.preprocessing
    for text in inputs:
        read_input(text, preprocessing)


def export_into(folder: Path, source: Source) -> None:
    """Export into a scratch folder beside ``folder``, then rename it into place: a cache folder
    is complete or absent, and two processes racing both end with the same file. The graph
    averages the views the weights' card records, as ``zoo eval`` measures them."""
    from zoo.export import options, pipeline, samples

    checks = samples.load_samples(source.preprocessing, source.dataset, None, 16)
    scratch = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    try:
        request = options.ExportRequest(formats=("onnx",), force=True, tta=source.tta)
        pipeline.export(source, scratch, request, checks)
        try:
            os.replace(scratch, folder)
        except OSError:  # another process got there first: its folder is as good
            if onnx_file(folder) is None:
                raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(scratch)
