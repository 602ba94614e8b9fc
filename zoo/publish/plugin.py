"""``zoo publish --plugin DIR``: a release's weights added to a plugin project, so that ``pip
install`` of the plugin ships them.

The declaration goes into ``weights/weights.json`` inside the package whose module defines the
model (the file :func:`zoo.meta.weights_index` reads, and that ``zoo new-plugin``'s model reads
without importing zoo), and the safetensors file beside it (the ``file`` form; with ``--to``,
the ``url`` form and no file). Whether the project ships and reads that file is checked, and
what is missing is said as the lines to add.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ArgumentError, ZooError, first_line
from zoo.files import atomic_write, write_json
from zoo.meta import Weights

WEIGHTS_FOLDER = "weights"
INDEX = f"{WEIGHTS_FOLDER}/weights.json"
SHIPPED = (f"{WEIGHTS_FOLDER}/weights.json", f"{WEIGHTS_FOLDER}/x.safetensors")


@dataclass(frozen=True)
class PluginPackage:
    """The package of a plugin project that defines a model, and its ``pyproject.toml``."""

    root: Path  # the project: pyproject.toml is here
    model: str
    package: Path  # the folder of the package whose module defines the model
    module: Path  # that module's file
    name: str  # the package's import name
    pyproject: dict[str, Any]

    @property
    def index(self) -> Path:
        return self.package / INDEX


def read_pyproject(path: Path) -> dict[str, Any]:
    """A pyproject.toml as data (tomllib, or tomli on Python 3.10)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ZooError("--plugin needs Python 3.11+ or the tomli package") from None
    try:
        return tomllib.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ArgumentError(f"--plugin: cannot read {path}: {first_line(exc)}") from None


def find_plugin(root: Path, model: str) -> PluginPackage:
    """The project at ``root`` and the package that defines ``model``; one line when ``root``
    is not a plugin project that registers it."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        raise ArgumentError(
            f"--plugin '{root}' is not a plugin project: it has no pyproject.toml "
            "('zoo new-plugin NAME' writes one)"
        )
    data = read_pyproject(pyproject)
    entries = data.get("project", {}).get("entry-points", {}).get("zoo.models", {})
    if model not in entries:
        raise ArgumentError(
            f"--plugin '{root}' does not register model '{model}' (its zoo.models entry "
            f"points: {', '.join(entries) or 'none'})"
        )
    module = str(entries[model]).partition(":")[0].strip()
    parts = module.split(".")
    for base in (root / "src", root):
        package = base.joinpath(*parts)
        if (package / "__init__.py").is_file():
            return PluginPackage(root, model, package, package / "__init__.py", module, data)
        if package.with_suffix(".py").is_file() and len(parts) > 1:
            name = ".".join(parts[:-1])
            return PluginPackage(
                root, model, package.parent, package.with_suffix(".py"), name, data
            )
    raise ArgumentError(
        f"--plugin '{root}': model '{model}' comes from {module}, which is not a module of a "
        f"package under {root / 'src'} or {root} (weights ship inside a package)"
    )


def declarations(plugin: PluginPackage) -> list[dict[str, Any]]:
    """What the project's weights/weights.json declares for its model (empty when nothing)."""
    if not plugin.index.is_file():
        return []
    try:
        data = json.loads(plugin.index.read_text())
    except ValueError as exc:
        raise ZooError(f"{plugin.index} is damaged: {first_line(exc)}") from None
    if not isinstance(data, dict):
        raise ZooError(f"{plugin.index} must map model names to lists of weights")
    return list(data.get(plugin.model, []))


def add(plugin: PluginPackage, entry: dict[str, Any], weights: Path | None) -> list[str]:
    """Add (or refresh, same name and sha256) ``entry`` in the project's weights.json, the
    file beside it unless ``weights`` is None (a URL); notes on what the project still lacks."""
    index = json.loads(plugin.index.read_text()) if plugin.index.is_file() else {}
    entries = declarations(plugin)
    names = [item.get("name") for item in entries]
    notes = []
    if weights is not None:
        target = plugin.package / entry["file"]
        atomic_write(target, lambda temporary: shutil.copyfile(weights, temporary))
    if entry["name"] in names:
        entries[names.index(entry["name"])] = entry
    else:
        entries.append(entry)
        if names:
            notes.append(
                f"'{entry['name']}' follows {', '.join(map(str, names))} in {plugin.index}: "
                f"'{names[0]}' stays the default (the first declared)"
            )
    write_json(plugin.index, {**index, plugin.model: entries})
    return notes + wiring_notes(plugin)


def wiring_notes(plugin: PluginPackage) -> list[str]:
    """What the project needs so that its wheel ships weights/ and its model reads it."""
    notes = []
    package_data = plugin.pyproject.get("tool", {}).get("setuptools", {}).get("package-data", {})
    patterns = [*package_data.get(plugin.name, []), *package_data.get("*", [])]
    if not all(any(fnmatch.fnmatch(f, p) for p in patterns) for f in SHIPPED):
        notes.append(
            f"{plugin.root / 'pyproject.toml'} does not ship weights/: add [tool.setuptools."
            f'package-data] "{plugin.name}" = ["{WEIGHTS_FOLDER}/*.safetensors", "{INDEX}"]'
        )
    text = plugin.module.read_text(errors="replace")
    if "weights.json" not in text and "weights_index" not in text:
        notes.append(
            f"{plugin.module} does not read {INDEX}: declare the weights with "
            f"zoo.meta.weights_index(__package__, '{plugin.model}') (or read the JSON file "
            "yourself, as 'zoo new-plugin' models do)"
        )
    return notes


def entry_json(weights: Weights) -> dict[str, Any]:
    """A declaration as weights.json holds it (the one of ``file`` and ``url`` it uses)."""
    return weights.to_json()
