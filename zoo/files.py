"""Writing files so that nothing is ever half-written, and naming their contents by hash.

Every file zoo writes for keeps (checkpoints, exports, manifests, caches, tables) goes through
:func:`atomic_write`: a temporary file beside the target, flushed to disk, given ordinary
permissions, then renamed over the target. A crash leaves the old file or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MODE = 0o644  # mkstemp creates 0600 files; what zoo writes is meant to be shared
TEMPORARY_SUFFIX = ".tmp"


def atomic_write(path: Path, write: Callable[[str], None]) -> Path:
    """Call ``write`` on a temporary path beside ``path``, fsync it, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX
    )
    os.close(handle)
    try:
        write(temporary)
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.chmod(temporary, MODE)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def write_text(path: Path, text: str) -> Path:
    """``text`` to ``path``, atomically."""
    return atomic_write(path, lambda temporary: Path(temporary).write_text(text))


def write_json(path: Path, data: Any) -> Path:
    """``data`` as indented JSON to ``path``, atomically."""
    return write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_figure(figure: Any, path: Path) -> Path:
    """A matplotlib figure as a PNG at ``path``, atomically."""
    return atomic_write(path, lambda temporary: figure.savefig(temporary, format="png"))
