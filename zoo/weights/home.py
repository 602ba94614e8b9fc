"""``$ZOO_HOME``: zoo's cache, and the one place each of its folders is named.

``weights/`` holds downloaded weights (``MODEL-NAME-<12 hex>.safetensors``), ``predict/`` the
verified ONNX exports ``zoo predict MODEL`` makes once (a folder per model, weights, plugin
version and zoo version), ``hub/`` the releases ``hf://OWNER/REPO`` names. The predict folder's
name comes from registry metadata alone, so that a cached prediction imports neither the
plugin's module nor torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.errors import ZooError
from zoo.files import check_folder, sha256_file

if TYPE_CHECKING:
    from zoo.meta import Weights

HOME_ENV = "ZOO_HOME"
SUFFIX = ".safetensors"
WEIGHTS, PREDICT, HUB = "weights", "predict", "hub"  # its three folders


def home() -> Path:
    """zoo's own cache: ``$ZOO_HOME``, else ``$XDG_CACHE_HOME/zoo`` (``~/.cache/zoo``)."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "zoo"


def writable_cache(folder: Path) -> Path:
    """A folder of zoo's cache about to be written (a download, an export for ``zoo predict``),
    checked before the work: one line that says to set ZOO_HOME when it cannot be written."""
    try:
        return check_folder(folder, "the cache folder")
    except ZooError as exc:
        raise ZooError(f"{exc} (set {HOME_ENV} to a folder you may write)") from None


def weights_dir() -> Path:
    """Where downloaded weights are kept: ``$ZOO_HOME/weights``."""
    return home() / WEIGHTS


def cache_file(model: str, weights: Weights) -> Path:
    """``$ZOO_HOME/weights/MODEL-NAME-<first 12 of sha256>.safetensors``: a moved URL keeps it."""
    return weights_dir() / f"{model}-{weights.name}-{weights.sha256[:12]}{SUFFIX}"


def predict_folder(model: str, weights: str | Path) -> Path:
    """``$ZOO_HOME/predict/MODEL-WEIGHTS-HASH``, named from registry metadata (no imports): the
    distribution that registers the model and its version, the entry's target, the weights
    asked for (a declared name, or a file: its sha256) and zoo's version make the key."""
    from zoo.machine import zoo_version
    from zoo.registry import get_registry

    entry = get_registry().resolve("model", model)
    facts = {
        "distribution": entry.dist,
        "version": entry.version,
        "target": entry.target,
        "model": entry.name,
        "weights": str(weights),
        "zoo": zoo_version(),
    }
    label = str(weights)
    if isinstance(weights, Path):
        if not weights.is_file():
            raise ZooError(f"no weights file '{weights}'")
        facts["weights"], label = sha256_file(weights), "file"
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]
    return home() / PREDICT / f"{entry.name}-{label}-{digest}"
