"""Writing files so that nothing is ever half-written, and naming their contents by hash.

Every file zoo writes for keeps (checkpoints, exports, manifests, caches, tables) goes through
:func:`atomic_write`: a temporary file beside the target, flushed to disk, given ordinary
permissions, then renamed over the target. A crash leaves the old file or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MODE = 0o644  # mkstemp creates 0600 files; what zoo writes is meant to be shared
TEMPORARY_SUFFIX = ".tmp"
FAULT_ENV = "ZOO_TEST_FAULT"  # a test hook: see injected_fault
WRITES: dict[str, int] = {}  # atomic writes so far by file name, for injected_fault


def atomic_write(path: Path, write: Callable[[str], None]) -> Path:
    """Call ``write`` on a temporary path beside ``path``, fsync it, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX
    )
    os.close(handle)
    try:
        write(temporary)
        injected_fault(path, temporary)
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.chmod(temporary, MODE)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def injected_fault(path: Path, temporary: str) -> None:
    """A test hook, for the crash-safety tests only: ``ZOO_TEST_FAULT=ACTION:NAME:N`` acts
    inside the N-th write of a file called NAME in this process, once its bytes are written but
    before they are flushed and renamed. ``die`` cuts the file to half its size and SIGKILLs the
    process (a writer killed mid-write); ``pause=SECONDS`` sleeps (a slow disk)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    action, name, count = spec.split(":")
    if path.name != name:
        return
    seen = WRITES[name] = WRITES.get(name, 0) + 1
    if seen != int(count):
        return
    if action == "die":
        os.truncate(temporary, os.path.getsize(temporary) // 2)
        os.kill(os.getpid(), signal.SIGKILL)
    elif action.startswith("pause="):
        time.sleep(float(action.removeprefix("pause=")))


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
