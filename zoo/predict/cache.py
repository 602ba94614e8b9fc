"""``zoo predict MODEL``: an ONNX export of a model's trained weights, made once and cached.

The first call exports the weights to ONNX (verified against eager PyTorch, as ``zoo export``
does) into ``$ZOO_HOME/predict/KEY``. Later calls find that folder from registry metadata alone:
the distribution that registers the model and its version, the entry's target, the weights asked
for and zoo's version make the key. Neither the plugin's module nor torch is imported then, so a
prediction takes ONNX Runtime's time, not PyTorch's start-up.
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
from zoo.weights.declared import declared_tta as weights_tta
from zoo.weights.declared import is_file_spec
from zoo.weights.home import predict_folder, writable_cache


def cache_folder(model: str, weights: str) -> Path:
    """The predict folder of ``model``'s ``weights`` (a declared name or a file)."""
    return predict_folder(model, Path(weights).expanduser() if is_file_spec(weights) else weights)


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


def prepare(model: str, weights: str, inputs: list[str], say: Callable[[str], None]) -> Path:
    """The ONNX file of ``model``'s ``weights``: from the cache, else exported, verified and
    cached (``say`` tells the user, with the time it took). The weights and the ``inputs`` are
    checked before that work starts: a wrong name or a missing image costs no export."""
    folder = cache_folder(model, weights)
    try:
        found = onnx_file(folder)
    except CacheDamaged as exc:
        say(f"note: {exc}")
        found = None
    if found is not None:
        return found
    writable_cache(folder.parent)
    check_inputs(model, weights, inputs)
    say(f"exporting {model} ({weights} weights) to ONNX for ONNX Runtime, once…")
    started = time.perf_counter()
    export_into(folder, model, weights)
    seconds = time.perf_counter() - started
    say(f"exported and verified in {seconds:.1f} s; cached in {folder} (later calls start at once)")
    path = onnx_file(folder)
    if path is None:
        raise ZooError(f"the export into {folder} left no ONNX file")
    return path


def check_inputs(model: str, weights: str, inputs: list[str]) -> None:
    """Read every input as the weights' card prepares it (the weights are fetched and checked
    on the way): the errors the prediction would give, before the export."""
    from zoo.predict.onnx import read_input
    from zoo.weights.declared import locate

    preprocessing = locate(model, weights).card.preprocessing
    for text in inputs:
        read_input(text, preprocessing)


def export_into(folder: Path, model: str, weights: str) -> None:
    """Export into a scratch folder beside ``folder``, then rename it into place: a cache folder
    is complete or absent, and two processes racing both end with the same file."""
    from zoo.export import options, pipeline, samples, source

    resolved = source.resolve(options.SourceRequest(spec=model, weights=weights))
    dataset = source.checks_dataset(resolved, options.SourceRequest())
    checks = samples.load_samples(resolved.preprocessing, dataset, None, 16)
    scratch = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    try:
        tta = weights_tta(model, weights)
        request = options.ExportRequest(formats=("onnx",), force=True, tta=tta)
        pipeline.export(resolved, scratch, request, checks)
        try:
            os.replace(scratch, folder)
        except OSError:  # another process got there first: its folder is as good
            if onnx_file(folder) is None:
                raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(scratch)
