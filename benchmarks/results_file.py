"""benchmarks/RESULTS.md sections that a script writes: the text between its two markers."""

from __future__ import annotations

from pathlib import Path

from zoo.files import write_text

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(name: str, text: str, results: Path = RESULTS) -> None:
    """Replace the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` (appending the
    markers if absent), atomically; the rest of the file is left as it is."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    current = results.read_text() if results.exists() else "# Benchmark results\n"
    block = f"{start}\n{text.rstrip()}\n{end}"
    if start in current and end in current:
        before, rest = current.split(start, 1)
        current = before + block + rest.split(end, 1)[1]
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    write_text(results, current)
