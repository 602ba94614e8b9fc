"""Trained weights by name: find the file a model declares, fetch it once, check its sha256.

``--weights`` (and ``zoo.create_model(..., weights=...)``) takes ``NAME`` (weights the model
declares, :class:`zoo.meta.Weights`), ``default`` (the first it declares) or a ``.safetensors``
file. A declared file is either inside the declaring package (found with importlib.resources,
relative to the package of the module that defines the model) or a URL, downloaded once into
:func:`zoo.weights.home.weights_dir` with torch.hub's ``download_url_to_file`` (hf:// addresses with
huggingface_hub), written atomically and checked against its sha256 before every use: a file that
fails the check is removed and the error says so. Offline, the error names the URL and the path
where the file can be placed by hand. Only safetensors files are read: nothing is unpickled.

No torch at import: ``zoo predict MODEL`` reads the registry through this module on every call.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from zoo.artifacts.checkpoint import read_card
from zoo.artifacts.run import metric_text
from zoo.errors import ZooError, first_line
from zoo.files import atomic_write, sha256_file
from zoo.meta import DEFAULT_WEIGHTS, ModelInfo, Weights, weights_named
from zoo.registry import Entry, get_model_info, get_registry
from zoo.weights.home import SUFFIX, cache_file, writable_cache

if TYPE_CHECKING:
    from zoo.artifacts.card import ModelCard

DOWNLOAD_TIMEOUT_S = 30  # per socket operation: an unreachable server fails, never hangs
PICKLES = (".pt", ".pth", ".bin", ".ckpt", ".pkl")  # weights files zoo does not read
Progress = Callable[[int, int], None]  # bytes so far, bytes in all (0: unknown); the CLI draws it
BLOCK = 1 << 16


@dataclass(frozen=True)
class Located:
    """A verified weights file on this machine, its card, and what it is."""

    path: Path
    card: ModelCard
    model: str  # the model's registered name ("" for a file named without a model)
    declared: Weights | None = None  # None for a .safetensors file the user named

    @property
    def label(self) -> str:
        """``cifar10-cnn weights 'cifar10'`` or ``file.safetensors``, for messages and cards."""
        if self.declared is None:
            return self.path.name
        return f"{self.model} weights '{self.declared.name}'"


def is_file_spec(spec: str) -> bool:
    """Whether ``--weights`` names a file rather than weights a model declares (a file that
    is not safetensors, such as a pickled .pth, is one too: it is refused by name)."""
    path = Path(spec)
    return "/" in spec or os.sep in spec or path.suffix in (*PICKLES, SUFFIX) or path.is_file()


def model_weights(model: str) -> tuple[Entry, ModelInfo]:
    """A model's registry entry and metadata (its module is imported)."""
    entry = get_registry().resolve("model", model)
    return entry, get_model_info(entry.qualified_name)


def declaration(model: str, name: str) -> tuple[Entry, Weights]:
    """The weights ``name`` (or ``default``) that ``model`` declares; a clear error otherwise."""
    entry, info = model_weights(model)
    found = weights_named(info, name)
    if found is not None:
        return entry, found
    if not info.weights:
        why = f": {info.no_weights}" if info.no_weights else ""
        raise ZooError(
            f"model '{entry.name}' has no trained weights{why}; train it with 'zoo train "
            f"{entry.name}' or pass --weights FILE.safetensors"
        )
    names = ", ".join(w.name for w in info.weights)
    raise ZooError(
        f"model '{entry.name}' has no weights '{name}'; it declares {names} "
        f"('{DEFAULT_WEIGHTS}' is {info.weights[0].name})"
    )


def weights_for(model: str | None, spec: str) -> Located:
    """``NAME``, ``default`` or ``FILE.safetensors`` for ``model`` as a verified local file whose
    card matches the model and the declaration."""
    if is_file_spec(spec):
        path = Path(spec).expanduser()
        if path.suffix != SUFFIX:
            raise ZooError(f"--weights '{spec}' is not a .safetensors file (only those are read)")
        if not path.is_file():
            raise ZooError(f"no weights file '{spec}'")
        located = Located(path, read_card(path), model.rpartition(":")[2] if model else "")
    elif not model:
        raise ZooError(f"--weights '{spec}' names weights a model declares: name the model too")
    else:
        entry, weights = declaration(model, spec)
        path = fetch(entry, weights)
        located = Located(path, read_card(path), entry.name, weights)
    check_model(located)
    return located


def fetch(entry: Entry, weights: Weights, progress: Progress | None = None) -> Path:
    """The local file of declared weights, downloaded once if it is a URL; sha256 checked
    (``progress`` hears how a download goes)."""
    if weights.file:
        path = package_file(entry, weights.file)
        check_sha256(path, weights, remove=False, where=f"{entry.name} weights '{weights.name}'")
        return path
    path = cache_file(entry.name, weights)
    where = f"{entry.name} weights '{weights.name}'"
    if not path.is_file():
        writable_cache(path.parent)
        download(weights.url, path, weights, where, progress)
    check_sha256(path, weights, remove=True, where=where)
    return path


def package_file(entry: Entry, file: str) -> Path:
    """``file`` inside the package of the module that defines ``entry``'s builder."""
    from importlib import resources

    module = sys.modules.get(getattr(entry.load(), "__module__", ""))
    if module is None:
        raise ZooError(f"cannot tell which package model '{entry.name}' comes from")
    package = module.__name__ if hasattr(module, "__path__") else module.__package__
    base = resources.files(package) if package else Path(module.__file__ or "").parent
    path = Path(str(base.joinpath(file)))
    if not path.is_file():
        raise ZooError(
            f"model '{entry.name}' ({entry.source}) declares the weights file {file}, but "
            f"{path} is missing: reinstall {entry.dist}"
        )
    return path


def check_sha256(path: Path, weights: Weights, remove: bool, where: str) -> None:
    """Refuse a file whose sha256 is not the declared one (removing it when it is a download)."""
    actual = sha256_file(path)
    if actual == weights.sha256:
        return
    if remove:
        path.unlink(missing_ok=True)
    fate = "it was removed" if remove else "reinstall the package that declares it"
    raise ZooError(
        f"{where}: {path} has sha256 {actual[:16]}…, not the declared {weights.sha256[:16]}…; "
        f"{fate}"
    )


def download(
    url: str, path: Path, weights: Weights, where: str, progress: Progress | None = None
) -> None:
    """Fetch ``url`` into ``path`` atomically; a wrong hash, an HTTP error or no network is one
    line that says where the file can be placed by hand."""
    by_hand = f"put the file (sha256 {weights.sha256}) at {path} by hand"
    try:
        if url.startswith("hf://"):
            atomic_write(path, lambda temporary: hub_download(url, temporary, progress))
            check_sha256(path, weights, remove=True, where=where)
        else:
            atomic_write(
                path, lambda temporary: url_download(url, temporary, weights.sha256, progress)
            )
    except ZooError:
        raise
    except RuntimeError as exc:
        if "invalid hash value" not in str(exc):
            raise ZooError(
                f"{where}: cannot download {url}: {first_line(exc)}; {by_hand}"
            ) from None
        raise ZooError(
            f"{where}: the file downloaded from {url} does not have the declared sha256 "
            f"{weights.sha256[:16]}…; it was removed ({by_hand})"
        ) from None
    except (OSError, ValueError) as exc:  # HTTP errors, no network, timeouts, bad addresses
        raise ZooError(f"{where}: cannot download {url} ({first_line(exc)}); {by_hand}") from None


def url_download(url: str, destination: str, sha256: str, progress: Progress | None = None) -> None:
    """torch.hub's download (it checks the hash), with a timeout so that offline fails fast;
    with ``progress``, a plain stream that reports each block to it."""
    import socket

    if progress is not None:
        stream_download(url, destination, sha256, progress)
        return
    from torch.hub import download_url_to_file

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        download_url_to_file(url, destination, hash_prefix=sha256, progress=sys.stderr.isatty())
    finally:
        socket.setdefaulttimeout(previous)


def stream_download(url: str, destination: str, sha256: str, progress: Progress) -> None:
    """``url`` into ``destination`` block by block, hashing as it goes; a wrong hash raises
    torch.hub's error ("invalid hash value"), so that :func:`download` words it the same way."""
    import hashlib
    import urllib.request

    digest = hashlib.sha256()
    with (
        urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
        open(destination, "wb") as out,
    ):
        total, done = int(response.headers.get("Content-Length") or 0), 0
        progress(0, total)
        while block := response.read(BLOCK):
            out.write(block)
            digest.update(block)
            done += len(block)
            progress(done, total)
    if digest.hexdigest() != sha256:
        raise RuntimeError(f"invalid hash value (expected {sha256}, got {digest.hexdigest()})")


def reporting_tqdm(progress: Progress) -> Any:
    """A tqdm class for huggingface_hub that draws nothing and tells ``progress`` instead."""
    from tqdm.auto import tqdm

    class Reporting(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "disable": True})
            self.done = int(kwargs.get("initial") or 0)

        def update(self, n: float | None = 1) -> bool | None:
            self.done += int(n or 0)
            progress(self.done, int(self.total or 0))
            return None

    return Reporting


def hub_download(url: str, destination: str, progress: Progress | None = None) -> None:
    """``hf://OWNER/REPO/PATH[@REVISION]`` through huggingface_hub, copied to ``destination``."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise ZooError(
            f"{url} is on the Hugging Face Hub: install huggingface_hub "
            "(pip install 'torch-zoo[hub]')"
        ) from None
    address = urlparse(url)
    parts = f"{address.netloc}{address.path}".split("/")
    if len(parts) < 3:
        raise ValueError(f"'{url}' is not hf://OWNER/REPO/PATH[@REVISION]")
    filename, _, revision = "/".join(parts[2:]).partition("@")
    bar = {} if progress is None else {"tqdm_class": reporting_tqdm(progress)}
    try:
        local = hf_hub_download(
            f"{parts[0]}/{parts[1]}", filename, revision=revision or None, **bar
        )
    except Exception as exc:  # huggingface_hub raises its own errors, offline ones included
        raise OSError(first_line(exc)) from None
    shutil.copyfile(local, destination)


def check_model(located: Located) -> None:
    """The file must hold weights of the model it is named with: everything else about the
    weights is its card's to say."""
    card = located.card
    model = card.model.rpartition(":")[2]
    if located.model and model != located.model:
        raise ZooError(
            f"{located.path} holds weights of model '{card.model}', not '{located.model}'"
        )


def local_card(entry: Entry, weights: Weights) -> ModelCard | None:
    """The card of declared weights whose file is here (inside the package, or downloaded):
    what ``zoo info`` shows of them, read without fetching anything; None when not here."""
    try:
        path = (
            package_file(entry, weights.file) if weights.file else cache_file(entry.name, weights)
        )
        return read_card(path) if path.is_file() else None
    except ZooError:
        return None


def metrics_text(card: ModelCard) -> str:
    """``accuracy 73.65 % on the test split of imagefolder``: what a card's metrics say, as eval
    prints them (an epoch's held-out figures, or what ``zoo eval`` measured), with the TTA."""
    chosen = {
        key.rpartition("_")[2]: value
        for key, value in card.metrics.items()
        if key.rpartition("_")[2] in ("accuracy", "mae") and not key.startswith("train_")
    }
    where = f" on {card.evaluated_on}" if card.evaluated_on else ""
    where += f" of {card.dataset}" if card.dataset and where.endswith("split") else ""
    tta = card.evaluation_tta
    views = f", test-time augmentation {tta}" if tta and tta != "none" else ""
    return shown_metrics(chosen) + where + views


def stated_text(weights: Weights) -> str:
    """What an older declaration stated of its metrics, for weights whose file (and card) is not
    here yet; the card says once it is fetched."""
    stated = weights.stated
    metrics = {k: v for k, v in dict(stated.get("metrics") or {}).items() if k != "loss"}
    split, dataset = stated.get("split", "test"), stated.get("dataset")
    where = f" on the {split} split of {dataset}" if dataset else ""
    return f"{shown_metrics(metrics)}{where} (as declared; the file's card says once fetched)"


def shown_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(metric_text(key, value) for key, value in metrics.items()) or (
        "no recorded metrics"
    )
