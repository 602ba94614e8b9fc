"""Shared by the publishing tests: a tiny run trained with the real trainer, a static web server
on 127.0.0.1, a fresh virtual environment that sees this one's packages (torch, zoo) but holds
its own installs, and real wheels built from plugin projects."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from train_support import ok

# 3 epochs of mnist-mlp on scikit-learn's 8×8 digits: about 2 s; its recipe holds a sixth of
# the train split out, so the run keeps its best epoch and draws curves
TRAIN = ["mnist-mlp", "-d", "digits", "--epochs", "3", "--device", "cpu", "--seed", "0"]
PURELIB = sysconfig.get_paths()["purelib"]  # this environment's site-packages: torch, zoo


def train_tiny_run(out: Path) -> Path:
    """The run directory of a real `zoo train` of mnist-mlp on digits."""
    ok("train", *TRAIN, "--out", out)
    (run,) = (path for path in out.iterdir() if path.is_dir())
    return run


def release_files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def declaration(folder: Path) -> tuple[str, dict[str, Any]]:
    """The one (model, declaration) a release's weights.json holds."""
    ((model, (entry,)),) = json.loads((folder / "weights.json").read_text()).items()
    return model, entry


class StaticServer:
    """``http.server`` serving a folder from a thread, as any static web server would; it
    records the paths it was asked for."""

    def __init__(self, folder: Path) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                server.requests.append(self.path)

        handler = functools.partial(Handler, directory=str(folder))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def serving(folder: Path) -> Iterator[StaticServer]:
    folder.mkdir(parents=True, exist_ok=True)
    server = StaticServer(folder)
    try:
        yield server
    finally:
        server.stop()


def build_wheel(project: Path, out: Path) -> Path:
    """A real wheel of a plugin project (setuptools, as ``pip wheel`` builds it)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "--wheel-dir", str(out), str(project)],
        check=True,
    )  # fmt: skip
    (wheel,) = out.glob("*.whl")
    return wheel


def fresh_environment(root: Path) -> Path:
    """A new virtual environment whose Python also sees this one's site-packages (through a
    .pth file: torch and zoo are not installed again), with pip run from here; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "zoo-test-base.pth").write_text(f"import site; site.addsitedir({PURELIB!r})\n")
    return python


def pip_install(python: Path, wheel: Path) -> None:
    """Install ``wheel`` into the environment of ``python`` (this environment's pip)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", "--disable-pip-version-check", str(wheel)],
        check=True,
    )  # fmt: skip


def zoo_in(python: Path, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m zoo ARGS`` in that environment, nothing of this one's PYTHONPATH inherited."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    return subprocess.run(
        [str(python), "-m", "zoo", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**inherited, "COLUMNS": "200", "NO_COLOR": "1", **env},
        timeout=300,
    )
