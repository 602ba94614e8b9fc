"""Show a benchmark result: Rich tables for people, markdown to paste, JSON for machines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from zoo.console import show_table
from zoo.export.bench import BenchResult
from zoo.export.verify import FP16, FP32
from zoo.files import write_json, write_text


def top1_text(row: dict[str, Any]) -> str:
    return "n/a" if row["top1_agreement"] is None else f"{row['top1_agreement']:.2%}"


def parity_rows(result: BenchResult) -> list[list[str]]:
    return [
        [
            row["backend"],
            row["device"],
            f"{row['max_abs']:.2e}",
            f"{row['max_rel']:.2e}",
            "n/a" if row["tolerance_used"] is None else f"{row['tolerance_used']:.3f}",
            top1_text(row),
            "pass" if row["passed"] else "FAIL",
        ]
        for row in result.parity
    ]


def summary_rows(result: BenchResult) -> list[list[str]]:
    """Per backend: its file, size, top-1 on the real samples and batch-1/largest-batch p50."""
    batches = sorted({row.batch for row in result.latency})
    rows = []
    for summary in result.summary:
        p50 = {
            row.batch: f"{row.p50_ms:.3f}"
            for row in result.latency
            if row.backend == summary.backend and row.device == summary.device
        }
        rows.append(
            [
                summary.backend,
                summary.device,
                summary.file or "(in memory)",
                "" if summary.bytes is None else f"{summary.bytes / 1e6:.2f}",
                "n/a" if summary.top1 is None else f"{summary.top1:.2%}",
                *[p50.get(batch, "–") for batch in batches],
            ]
        )
    return rows


def summary_header(result: BenchResult) -> list[str]:
    batches = sorted({row.batch for row in result.latency})
    return ["backend", "device", "file", "MB", "top-1", *[f"p50 ms @{b}" for b in batches]]


def latency_rows(result: BenchResult) -> list[list[str]]:
    return [
        [
            str(row.batch),
            row.backend,
            row.device,
            f"{row.p50_ms:.3f}",
            f"{row.p90_ms:.3f}",
            f"{row.p99_ms:.3f}",
            f"{row.samples_per_s:,.0f}",
            "" if row.speedup_vs_eager is None else f"{row.speedup_vs_eager:.2f}×",
            str(row.iterations),
        ]
        for row in result.latency
    ]


PARITY_HEADER = [
    "backend",
    "device",
    "max abs diff",
    "max rel diff",
    "of tolerance",
    "top-1 agree",
    "parity",
]
LATENCY_HEADER = [
    "batch",
    "backend",
    "device",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "samples/s",
    "vs eager",
    "iters",
]


def headline(result: BenchResult) -> str:
    return (
        f"{result.model} ({result.source}); parity and top-1 on {result.inputs}; "
        f"{result.threads} thread(s); torch {result.environment.get('torch', '?')}, "
        f"onnxruntime {result.environment.get('onnxruntime', '?')}"
    )


def render(result: BenchResult, console: Console) -> None:
    """Print parity and latency tables, and what was skipped."""
    console.print(f"[bold]{headline(result)}[/bold]", highlight=False, soft_wrap=True)
    for title, header, rows in tables(result):
        cells = [[f"[red]{cell}[/red]" if cell == "FAIL" else cell for cell in row] for row in rows]
        numbers = tuple(c for c in header if c not in ("backend", "device", "file"))
        show_table(header, cells, right=numbers, title=title, out=console)
    for skip in result.skipped:
        console.print(f"[dim]skipped {skip['backend']}: {skip['reason']}[/dim]")
    verdict = "[green]parity: pass[/green]" if result.passed else "[red]parity: FAIL[/red]"
    console.print(
        f"{verdict} ({FP32.describe()} elementwise, b the eager output, and identical top-1; "
        f"float16: {FP16.describe()}; int8: top-1 accuracy); "
        f"{result.wall_seconds:.1f} s"
    )


def tables(result: BenchResult) -> list[tuple[str, list[str], list[list[str]]]]:
    return [
        ("Backends", summary_header(result), summary_rows(result)),
        ("Parity against eager", PARITY_HEADER, parity_rows(result)),
        ("Latency", LATENCY_HEADER, latency_rows(result)),
    ]


def markdown(result: BenchResult) -> str:
    """The result as markdown tables, ready to paste."""
    lines = [f"**{headline(result)}**", ""]
    for _, header, rows in tables(result):
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    lines += [f"- skipped {skip['backend']}: {skip['reason']}" for skip in result.skipped]
    return "\n".join(lines).rstrip() + "\n"


def save_json(result: BenchResult, path: Path) -> None:
    write_json(path, result.as_dict())


def save_markdown(result: BenchResult, path: Path) -> None:
    write_text(path, markdown(result))
