"""The central registry of models, datasets and optimizers.

Entries come from the entry-point groups ``zoo.models``, ``zoo.datasets`` and ``zoo.optimizers`` of
installed distributions (zoo's own built-ins included) and from in-process registration with
:func:`register_model` and friends. Listing reads distribution metadata only; an entry's module is
imported when the entry is first used or described.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, TypeVar

from zoo.errors import NameConflictError, PluginError, UnknownNameError, first_line

if TYPE_CHECKING:
    from zoo.meta import DatasetInfo, ModelInfo

KINDS = ("model", "dataset", "optimizer")
GROUPS = {kind: f"zoo.{kind}s" for kind in KINDS}
DISTRIBUTION = "torch-zoo"
IN_PROCESS = "in-process"
DISABLE_ENV = "ZOO_DISABLE_PLUGIN_AUTOLOAD"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
F = TypeVar("F", bound=Callable[..., Any])
_UNLOADED = object()


def normalize_dist(name: str) -> str:
    """PEP 503 normalisation, so ``Zoo_Plugin`` and ``zoo-plugin`` name the same distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Entry:
    """One registered name: where it comes from, and (once loaded) the object behind it."""

    kind: str
    name: str
    target: str  # "module:attribute" as declared
    dist: str
    version: str
    error: str | None = None  # set when the entry is invalid or failed to load
    entry_point: metadata.EntryPoint | None = field(default=None, repr=False)
    obj: Any = field(default=_UNLOADED, repr=False)

    @property
    def builtin(self) -> bool:
        return self.dist == DISTRIBUTION

    @property
    def qualified_name(self) -> str:
        return f"{self.dist}:{self.name}"

    @property
    def source(self) -> str:
        return f"{self.dist} {self.version}".strip()

    @property
    def loaded(self) -> bool:
        return self.obj is not _UNLOADED

    def load(self) -> Any:
        """Import the entry's object; a failure becomes a one-line :class:`PluginError`."""
        if self.loaded:
            return self.obj
        if self.error is None:
            try:
                obj = self.entry_point.load()  # type: ignore[union-attr]
                if not callable(obj):
                    raise TypeError(f"{self.target} is a {type(obj).__name__}, not a callable")
                self.obj = obj
                return obj
            except (Exception, SystemExit) as exc:  # a plugin must not take zoo down
                self.error = first_line(exc)
        raise PluginError(
            f"{self.kind} '{self.name}' from {self.source} ({self.target}) is broken: {self.error}"
        )


class Registry:
    """All entries, by kind and name; a name may have several entries (a conflict)."""

    def __init__(
        self, entries: Iterable[Entry] = (), invalid: Iterable[Entry] = (), skipped_plugins: int = 0
    ) -> None:
        self._by_kind: dict[str, dict[str, list[Entry]]] = {kind: {} for kind in KINDS}
        self.invalid = list(invalid)  # declared entries that cannot be used (bad name or target)
        self.skipped_plugins = skipped_plugins  # third-party entries left out by DISABLE_ENV
        for entry in entries:
            self.add(entry)

    @classmethod
    def from_entry_points(cls) -> Registry:
        """Read every installed distribution's zoo entry points (metadata only, no imports)."""
        builtins_only = os.environ.get(DISABLE_ENV, "").strip().lower() not in ("", "0", "false")
        entries, invalid, skipped = [], [], 0
        all_points = metadata.entry_points()
        versions: dict[str, str] = {}  # each read parses the distribution's METADATA file
        for kind, group in GROUPS.items():
            for ep in all_points.select(group=group):
                dist = ep.dist
                dist_name = dist.name if dist is not None else "unknown"
                if builtins_only and dist_name != DISTRIBUTION:
                    skipped += 1
                    continue
                if dist_name not in versions:
                    versions[dist_name] = dist.version if dist else ""
                entry = Entry(
                    kind, ep.name, ep.value, dist_name, versions[dist_name], entry_point=ep
                )
                if not NAME_PATTERN.match(ep.name):
                    entry.error = "invalid name (use lower-case letters, digits, '-', '_' and '.')"
                elif ":" not in ep.value:
                    entry.error = "invalid target (expected 'module:attribute')"
                (invalid if entry.error else entries).append(entry)
        return cls(entries, invalid, skipped)

    def add(self, entry: Entry) -> None:
        """Add an entry; one from the same source under the same name replaces the old one."""
        same = self._by_kind[entry.kind].setdefault(entry.name, [])
        same[:] = [e for e in same if e.dist != entry.dist]  # re-registering in-process replaces
        same.append(entry)

    def entries(self, kind: str | None = None) -> list[Entry]:
        """Every valid entry, sorted by kind then name."""
        kinds = [kind] if kind else list(KINDS)
        return [
            e for k in kinds for name in sorted(self._by_kind[k]) for e in self._by_kind[k][name]
        ]

    def names(self, kind: str, pattern: str = "*") -> list[str]:
        """Registered names of one kind matching a shell-style wildcard."""
        return [n for n in sorted(self._by_kind[kind]) if fnmatch.fnmatchcase(n, pattern)]

    def claims(self, kind: str, name: str) -> list[Entry]:
        """Every entry registered under ``name`` for ``kind`` (several: a conflict)."""
        return list(self._by_kind[kind].get(name, []))

    def conflicts(self, entry: Entry) -> list[Entry]:
        """The other entries that claim the same kind and name."""
        return [e for e in self.claims(entry.kind, entry.name) if e is not entry]

    def resolve(self, kind: str, name: str) -> Entry:
        """The single entry for ``name`` or ``distribution:name``; a clear error otherwise."""
        dist, _, bare = name.rpartition(":")
        candidates = self._by_kind[kind].get(bare, [])
        if dist:
            picked = [e for e in candidates if normalize_dist(e.dist) == normalize_dist(dist)]
            if picked:
                return picked[0]
            sources = ", ".join(e.qualified_name for e in candidates)
            hint = f"; it comes from {sources}" if sources else ""
            raise UnknownNameError(f"no {kind} '{bare}' in distribution '{dist}'{hint}")
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            choices = " or ".join(f"'{e.qualified_name}'" for e in candidates)
            raise NameConflictError(
                f"{kind} '{bare}' is registered by {len(candidates)} distributions "
                f"({', '.join(e.source for e in candidates)}); pick one: {choices}"
            )
        raise self.unknown(kind, bare)

    def unknown(self, kind: str | None, name: str) -> UnknownNameError:
        """An error for a name no entry has (of ``kind``, or of any kind): close names, broken plugins."""
        message = f"unknown {kind or 'name'} '{name}'"
        other = [k for k in KINDS if k != kind and name in self._by_kind[k]]
        if kind and other:
            message += f" ('{name}' is {'an' if other[0] == 'optimizer' else 'a'} {other[0]})"
        kinds = [kind] if kind else list(KINDS)
        names = {n: k for k in kinds for n in self._by_kind[k]}
        close = difflib.get_close_matches(name.lower(), list(names), n=3, cutoff=0.6)
        close += [n for n in names if len(name) >= 3 and name.lower() in n and n not in close]
        if close:
            labels = [f"'{n}'" if kind else f"'{n}' ({names[n]})" for n in close[:4]]
            message += "; did you mean " + ", ".join(labels) + "?"
        else:
            message += f"; see 'zoo list {kind}s'" if kind else "; see 'zoo list'"
        broken = self.invalid + [e for e in self.entries() if e.error]
        if broken:
            listed = ", ".join(f"{e.dist} ({e.name}: {e.error})" for e in broken[:3])
            message += f". Note: {len(broken)} plugin entr{'y' if len(broken) == 1 else 'ies'} failed to load: {listed}"
        if self.skipped_plugins:
            message += f". Note: third-party plugins are disabled by {DISABLE_ENV}"
        return UnknownNameError(message)

    def load(self, kind: str, name: str) -> tuple[Entry, Any]:
        """Resolve and import an entry."""
        entry = self.resolve(kind, name)
        return entry, entry.load()


_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, read from entry points on first use."""
    global _registry
    if _registry is None:
        _registry = Registry.from_entry_points()
    return _registry


def reload_registry() -> Registry:
    """Forget everything loaded and read the entry points again (after installing a plugin)."""
    global _registry
    _registry = None
    return get_registry()


def get_model_info(name: str) -> ModelInfo:
    """The metadata of a registered model (its docstring's first line if it has none); its
    module is imported."""
    from zoo.meta import ModelInfo

    entry, fn = get_registry().load("model", name)
    return _read(entry, fn, ModelInfo)


def get_dataset_info(name: str) -> DatasetInfo:
    """The metadata of a registered dataset."""
    from zoo.meta import DatasetInfo

    entry, fn = get_registry().load("dataset", name)
    return _read(entry, fn, DatasetInfo)


def _read(entry: Entry, fn: Any, cls: type) -> Any:
    from zoo.meta import read

    try:
        return read(fn, cls)
    except TypeError as exc:
        raise PluginError(
            f"{entry.kind} '{entry.name}' ({entry.source}) has invalid zoo_info: {exc}"
        ) from None


def list_models(pattern: str = "*") -> list[str]:
    """Names of registered models matching a shell-style wildcard, e.g. ``"cifar10-*"``."""
    return get_registry().names("model", pattern)


def list_datasets(pattern: str = "*") -> list[str]:
    """Names of registered datasets matching a shell-style wildcard."""
    return get_registry().names("dataset", pattern)


def list_optimizers(pattern: str = "*") -> list[str]:
    """Names of registered optimizers matching a shell-style wildcard."""
    return get_registry().names("optimizer", pattern)


def _register(kind: str, name: str | None, meta: dict[str, Any]) -> Callable[[F], F]:
    def decorator(obj: F) -> F:
        entry_name = name or obj.__name__.lower().replace("_", "-")
        if not NAME_PATTERN.match(entry_name):
            raise ValueError(
                f"invalid {kind} name {entry_name!r}: use lower-case letters, digits, '-', '_', '.'"
            )
        if meta:
            from zoo import meta as zoo_meta

            cls = zoo_meta.ModelInfo if kind == "model" else zoo_meta.DatasetInfo
            setattr(obj, zoo_meta.ATTRIBUTE, zoo_meta.coerce(cls, meta))
        target = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', entry_name)}"
        registry = get_registry()
        replaced = [e for e in registry.claims(kind, entry_name) if e.dist == IN_PROCESS]
        if replaced and replaced[0].target != target:  # re-running the same cell is fine
            warnings.warn(
                f"{kind} '{entry_name}' was registered in this process by {replaced[0].target}; "
                f"{target} replaces it",
                stacklevel=3,
            )
        registry.add(Entry(kind, entry_name, target, IN_PROCESS, "", obj=obj))
        return obj

    return decorator


def register_model(name: str | None = None, **meta: Any) -> Callable[[F], F]:
    """Register a model builder in this process: ``@zoo.register_model("my-net", description=...)``."""
    return _register("model", name, meta)


def register_dataset(name: str | None = None, **meta: Any) -> Callable[[F], F]:
    """Register a dataset builder in this process (torchvision's dataset convention)."""
    return _register("dataset", name, meta)


def register_optimizer(name: str | None = None) -> Callable[[F], F]:
    """Register an optimizer class or ``(params, lr=..., **kw)`` callable in this process."""
    return _register("optimizer", name, {})
