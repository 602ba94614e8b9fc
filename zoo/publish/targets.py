"""Where ``zoo publish --to`` sends a release: the Hugging Face Hub (``hf://OWNER/REPO``), or a
folder (a path or ``file://`` URL) that any static web server can serve. Each gives back the
address of the weights file, for the declaration to paste."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from zoo.artifacts.manifest import MANIFEST
from zoo.errors import ArgumentError
from zoo.files import check_folder
from zoo.weights.releases import INDEX, PREFIX, HubRepo, is_hub_spec, parse


@dataclass(frozen=True)
class Target:
    """A parsed ``--to``: a Hub repository, or a folder and the address it is served at."""

    text: str
    repo: HubRepo | None = None
    folder: Path | None = None
    base_url: str = ""  # http(s)://HOST/PATH the folder is served at ("" for its file:// URL)


@dataclass(frozen=True)
class Delivery:
    """A release put somewhere: where, the weights' address there, and what the user should do."""

    where: str  # "hf://owner/repo at commit 1a2b…", "/srv/www/models/net-v1"
    url: str  # the weights file's address: https://, http://, file:// or hf://
    spec: str = ""  # hf://OWNER/REPO, for `zoo predict` and friends ("" for a folder)


def parse_target(text: str | None, base_url: str | None) -> Target | None:
    """``--to`` and ``--base-url`` as a :class:`Target`; a malformed one is one line."""
    if base_url and not base_url.startswith(("http://", "https://")):
        raise ArgumentError(f"--base-url must be an http:// or https:// address, not '{base_url}'")
    if not text:
        if base_url:
            raise ArgumentError("--base-url goes with --to FOLDER (the folder it serves)")
        return None
    if is_hub_spec(text):
        if base_url:
            raise ArgumentError("--base-url goes with --to FOLDER, not with --to hf://")
        return Target(text, repo=parse(text))
    if "://" in text and not text.startswith("file://"):
        raise ArgumentError(
            f"--to takes {PREFIX}OWNER/REPO[@BRANCH], a folder or a file:// URL, not '{text}' "
            "(a web server's own folder is the one to name)"
        )
    path = Path(unquote(urlparse(text).path)) if text.startswith("file://") else Path(text)
    folder = path.expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise ArgumentError(f"--to '{text}' is a file: name a folder")
    return Target(text, folder=folder, base_url=(base_url or "").rstrip("/"))


def check_target(target: Target, release_name: str) -> None:
    """What can be checked before any work: the Hub login and the network; a folder that
    would overwrite something other than an earlier release."""
    if target.repo is not None:
        from zoo.publish import hub

        hub.check_login(target.repo)
        return
    assert target.folder is not None
    destination = target.folder / release_name
    check_folder(destination, "--to")
    if destination.exists() and not is_release(destination):
        raise ArgumentError(
            f"--to: {destination} exists and is not a release zoo published: choose another folder"
        )


def is_release(folder: Path) -> bool:
    """Whether ``folder`` holds a release written by ``zoo publish`` (or nothing)."""
    if folder.is_dir() and not any(folder.iterdir()):
        return True
    return (folder / INDEX).is_file() and (folder / MANIFEST).is_file()


def deliver(target: Target, release: Path, weights_file: str, message: str) -> Delivery:
    """Copy or upload the release folder; where it went and the weights' address there."""
    if target.repo is not None:
        from zoo.publish import hub

        commit = hub.upload(release, target.repo, message)
        url = target.repo.address(weights_file, revision=commit)
        return Delivery(f"{target.repo.spec} at commit {commit[:12]}", url, target.repo.spec)
    assert target.folder is not None
    destination = target.folder / release.name
    copy_folder(release, destination)
    if target.base_url:
        url = f"{target.base_url}/{release.name}/{weights_file}"
    else:
        url = (destination / weights_file).as_uri()
    return Delivery(str(destination), url)


def copy_folder(source: Path, destination: Path) -> None:
    """``source`` copied to ``destination`` beside it first, then renamed in (whole or not)."""
    from zoo.export.pipeline import commit_dir, staging_dir

    staging = staging_dir(destination)
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        commit_dir(staging, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
