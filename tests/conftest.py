"""Shared fixtures: real plugin distributions installed into a temporary target directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURE_PLUGINS = Path(__file__).parent / "fixture_plugins"


def pip_install_target(sources: list[Path], target: Path) -> Path:
    """Build and install real distributions (with real entry points) into ``target``."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(target),
            *map(str, sources),
        ],
        check=True,
    )
    return target


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding three installed fixture plugins: good, broken and clashing."""
    root = tmp_path_factory.mktemp("plugins")
    sources = [
        shutil.copytree(FIXTURE_PLUGINS / name, root / "src" / name)
        for name in ("good", "broken", "clash")
    ]
    return pip_install_target(sources, root / "site")


def zoo_here(
    *args: str, cwd: Path | None = None, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    """The ``zoo`` console script's entry point run in this process, as :func:`run_zoo` returns
    it, in a terminal ``columns`` wide: for tests of what a command does with built-in entries,
    where a fresh interpreter (seconds of imports) adds nothing; start-up, signals and plugin
    visibility need :func:`run_zoo`."""
    from click.testing import CliRunner

    from zoo.launch import main

    runner = CliRunner()
    code, argv = 0, sys.argv
    with (
        contextlib.chdir(cwd or Path.cwd()),
        runner.isolation(env={"COLUMNS": str(columns), "NO_COLOR": "1"}) as (out, err, _),
    ):
        sys.argv = ["zoo", *args]  # what the entry point reads, as in a fresh process
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        except Exception:  # a bug: shown as the traceback a fresh process would print
            code = 1
            sys.stderr.write(traceback.format_exc())
        finally:
            sys.argv = argv
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return subprocess.CompletedProcess(list(args), code, stdout, stderr)


def run_zoo(
    *args: str, site: Path | None = None, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``zoo`` console script in a fresh process, plugins in ``site`` visible."""
    inherited = {k: v for k, v in os.environ.items() if k != "ZOO_DISABLE_PLUGIN_AUTOLOAD"}
    environment = {**inherited, "COLUMNS": "200", "NO_COLOR": "1", **env}
    if site is not None:
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(site), environment.get("PYTHONPATH")])
        )
    zoo = Path(sys.executable).with_name("zoo")
    return subprocess.run(
        [str(zoo), *args], capture_output=True, text=True, env=environment, cwd=cwd, timeout=300
    )


@pytest.fixture
def tiny_entries() -> Iterator[None]:
    """The training tests' tiny models and datasets (tests/train_support.py), registered in this
    process for one test (``pytestmark = pytest.mark.usefixtures("tiny_entries")``)."""
    import train_support

    import zoo

    train_support.register()
    yield
    zoo.reload_registry()
