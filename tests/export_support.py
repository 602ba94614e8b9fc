"""Shared by the export, bench and predict tests: each built-in model exported once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from zoo.registry import get_registry

BUILTIN_MODELS = sorted(entry.name for entry in get_registry().entries("model") if entry.builtin)
MODEL_ARGS = {"flowers-transfer": {"pretrained": "false"}}  # offline: no pretrained download
ONNX_ONLY = {"flowers-transfer"}  # resnet18 at 224×224 is the slow one
VERIFY_SAMPLES = 8


@dataclass
class Exported:
    """A built-in model with fresh weights, exported and verified."""

    source: Any
    directory: Path
    manifest: dict[str, Any]

    def file(self, fmt: str) -> Path:
        return self.directory / next(
            f["path"] for f in self.manifest["files"] if f["format"] == fmt
        )


_exports: dict[str, Exported] = {}


def exported(name: str, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """Export ``name`` (once per test session) to every format, ONNX only for the slow ones."""
    if name not in _exports:
        from zoo.export import formats, pipeline
        from zoo.export.source import load_samples, resolve

        source = resolve(name, model_args=MODEL_ARGS.get(name, {}))
        samples = load_samples(source, VERIFY_SAMPLES)
        wanted = ("onnx",) if name in ONNX_ONLY else formats.FORMATS
        directory = tmp_path_factory.mktemp(f"export-{name}")
        manifest = pipeline.export(source, directory, samples, formats_wanted=wanted)
        _exports[name] = Exported(source, directory, manifest)
    return _exports[name]
