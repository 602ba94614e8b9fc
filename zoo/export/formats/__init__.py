"""The export formats, as registered objects: one module each, one line each in :data:`FORMATS`.

A :class:`Format` says what its files are called, how one is written (with zoo's metadata in it),
how its metadata is read back, and how a written file is run for its verification. ``zoo export``'s
format flags, the manifest and the help text come from this table; bench backends name the
format they run (:mod:`zoo.export.backends`). Adding a format: a module defining ``FORMAT`` and
its line below.
"""

from __future__ import annotations

from zoo.export.formats import exported_program, onnx, openvino, torchscript
from zoo.export.formats.base import INPUT_NAME, OUTPUT_NAME, Format, WriteJob

FORMATS: dict[str, Format] = {
    format.name: format
    for format in (onnx.FORMAT, torchscript.FORMAT, exported_program.FORMAT, openvino.FORMAT)
}

__all__ = ["FORMATS", "INPUT_NAME", "OUTPUT_NAME", "Format", "WriteJob"]
