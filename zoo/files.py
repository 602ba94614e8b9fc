"""Writing files so that nothing is ever half-written, naming their contents by hash, checking
where results go before the work starts, and holding a folder against a second command.

Every file zoo writes for keeps (checkpoints, exports, manifests, caches, tables) goes through
:func:`atomic_write`: a temporary file beside the target, flushed to disk, given ordinary
permissions, then renamed over the target. A crash leaves the old file or the new one, never a mix.

Every command checks the folders and files its results go to with :func:`check_folder` or
:func:`check_file` before it starts its work (a read-only file system, a folder the user may not
write, a file where a folder is expected are one line then, not a traceback after minutes of
work), and holds the folder it changes with :func:`hold` (an operating-system lock, which goes
when the process ends however it ends: a second command on the same run says which process has
it).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

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


# -- where results go -----------------------------------------------------------------------------


def check_folder(path: Path | str, what: str) -> Path:
    """Refuse, as one line, a folder that results cannot be written into (or created as): a file
    where the folder (or one above it) should be, a read-only file system, a folder the user may
    not write. ``what`` names it for the user (``--out``, ``the run directory``, ``ZOO_HOME``).
    Nothing is created: a command refused later for another reason leaves no empty folder."""
    path = Path(path)
    existing = path
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if existing == path and not path.is_dir():
        raise ZooError(f"{what} {path} is a file, not a folder: name a folder")
    if not existing.is_dir():
        raise ZooError(f"cannot create {what} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ZooError(f"cannot write {what} {path}: {why_unwritable(existing)}")
    try:  # what access() cannot tell (root on a pseudo file system such as /proc): a real try
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as exc:
        raise ZooError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    return path


def check_file(path: Path | str, what: str) -> Path:
    """Refuse, as one line, a file that cannot be written: a folder in its place, or a folder it
    cannot be written into (:func:`check_folder`). Files are replaced by renaming, so the
    folder's permissions are what count."""
    path = Path(path)
    if path.is_dir():
        raise ZooError(f"{what} {path} is a folder, not a file: name a file")
    check_folder(path.parent if str(path.parent) else Path("."), f"the folder of {what}")
    return path


def why_unwritable(folder: Path) -> str:
    """Why ``folder`` cannot be written, in words: a read-only file system, or permissions."""
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):  # Windows has no statvfs
        read_only = False
    if read_only:
        return f"{folder} is on a read-only file system"
    return f"permission denied: you may not write to {folder}"


# -- one command per folder -----------------------------------------------------------------------

LOCK_FILE = ".zoo-lock"
LOCK_INFO_AT = 16  # who holds a lock is written after the byte Windows locks (it cannot be read)
HELD: dict[int, Path] = {}  # descriptors of the locks this process holds


def lock_file(folder: Path) -> Path:
    """The lock file of a folder zoo changes in place (a run, a sweep)."""
    return folder / LOCK_FILE


def lock_beside(folder: Path) -> Path:
    """The lock file of a folder that is replaced whole (an export): beside it, so that it
    outlives the replacement."""
    return folder.parent / f".{folder.name}{LOCK_FILE}"


@contextlib.contextmanager
def hold(lock: Path, what: str, doing: str) -> Iterator[None]:
    """Hold ``lock`` (an operating-system lock, released when the process ends, even by
    SIGKILL) for the block; refuse, as one line, when another process holds it: ``{what} is
    being {doing} by process N (its command, since when)``. The lock file is removed when the
    block ends (a SIGKILL leaves it, unlocked: the next command takes it)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    handle = take(lock, what, doing)
    try:
        os.ftruncate(handle, LOCK_INFO_AT)
        os.lseek(handle, LOCK_INFO_AT, os.SEEK_SET)
        os.write(handle, json.dumps(holder_info()).encode() + b"\n")
        HELD[handle] = lock
        yield
    finally:
        HELD.pop(handle, None)
        with contextlib.suppress(OSError):
            os.unlink(lock)  # while still held: no other process has taken this file
        os.close(handle)  # releases the lock


def take(lock: Path, what: str, doing: str) -> int:
    """A descriptor of ``lock``, locked; the file it locks is the one at the path now (one a
    releasing process removed after this process opened it is opened again)."""
    while True:
        handle = os.open(lock, os.O_RDWR | os.O_CREAT, MODE)
        if not try_lock(handle):
            holder = lock_holder(handle)
            os.close(handle)
            raise ZooError(f"{what} is being {doing} by {holder}: wait for it, or stop it first")
        try:
            if os.stat(lock).st_ino == os.fstat(handle).st_ino:
                return handle
        except FileNotFoundError:
            pass
        os.close(handle)  # the file was removed by the process that held it: again


def try_lock(handle: int) -> bool:
    """Take the lock without waiting; False when another process has it."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        os.lseek(handle, 0, os.SEEK_SET)
        try:
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def holder_info() -> dict[str, Any]:
    """What a lock file says of the process holding it."""
    command = " ".join(["zoo", *sys.argv[1:]]) if sys.argv else "zoo"
    return {
        "pid": os.getpid(),
        "command": command,
        "since": datetime.now().isoformat("T", "seconds"),
    }


def lock_holder(handle: int) -> str:
    """``process 1234 (zoo train --resume runs/x, since 12:00:03)``, from the lock file."""
    try:
        os.lseek(handle, LOCK_INFO_AT, os.SEEK_SET)
        info = json.loads(os.read(handle, 4096).decode() or "{}")
        pid, command, since = info["pid"], info["command"], info["since"]
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
    return f"process {pid} ({command}, since {since.replace('T', ' ')})"


def _forget_locks_in_child() -> None:
    """A forked child (a data-loader worker) closes its copies of the lock descriptors, so the
    lock goes when the process that took it ends, not when its last child does."""
    for handle in list(HELD):
        with contextlib.suppress(OSError):
            os.close(handle)
    HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks_in_child)
