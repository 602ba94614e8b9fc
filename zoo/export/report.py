"""A bench result as text: the tables (header and cells), the headline that names the machine, the
verdict, and markdown to paste. The CLI prints the tables; nothing here prints."""

from __future__ import annotations

from zoo.export.bench import BenchResult, ParityRow
from zoo.export.precisions import PRECISIONS
from zoo.machine import FEATURES

Table = tuple[str, list[str], list[list[str]]]


def agreement_text(row: ParityRow) -> str:
    value = row.parity.top1_agreement
    return "n/a" if value is None else f"{value:.2%}"


def parity_rows(result: BenchResult) -> list[list[str]]:
    return [
        [
            row.backend,
            row.device,
            row.precision,
            f"{row.parity.max_abs:.2e}",
            f"{row.parity.max_rel:.2e}",
            "n/a" if row.parity.tolerance_used is None else f"{row.parity.tolerance_used:.3f}",
            agreement_text(row),
            "pass" if row.passed else "FAIL",
        ]
        for row in result.parity
    ]


def backend_rows(result: BenchResult) -> list[list[str]]:
    """Per backend: its file, size, top-1 with its interval, and each batch size's p50."""
    batches = sorted({row.batch for row in result.latency})
    rows = []
    for summary in result.backends:
        p50 = {
            row.batch: f"{row.p50_ms:.3f}"
            for row in result.latency
            if row.backend == summary.backend and row.device == summary.device
        }
        accuracy = summary.top1
        rows.append(
            [
                summary.backend,
                summary.device,
                summary.precision,
                summary.file or "(in memory)",
                "" if summary.bytes is None else f"{summary.bytes / 1e6:.2f}",
                "n/a" if accuracy is None else f"{100 * accuracy.value:.2f} %",
                "" if accuracy is None else f"{100 * accuracy.low:.1f}–{100 * accuracy.high:.1f}",
                *[p50.get(batch, "–") for batch in batches],
            ]
        )
    return rows


def backend_header(result: BenchResult) -> list[str]:
    batches = sorted({row.batch for row in result.latency})
    return [
        "backend",
        "device",
        "precision",
        "file",
        "MB",
        "top-1",
        "95 % CI",
        *[f"p50 ms @{b}" for b in batches],
    ]


def latency_rows(result: BenchResult) -> list[list[str]]:
    rows = []
    for row in result.latency:
        ratio = "" if row.speedup_vs_eager is None else f"{row.speedup_vs_eager:.2f}×"
        if row.within_noise:
            ratio += " (noise)"
        rows.append(
            [
                str(row.batch),
                row.backend,
                row.device,
                f"{row.p50_ms:.3f}",
                f"±{row.spread:.1%}" if row.rounds > 1 else "–",
                f"{row.p90_ms:.3f}",
                f"{row.p99_ms:.3f}",
                f"{row.samples_per_s:,.0f}",
                ratio,
                f"{row.iterations}/{row.rounds}",
            ]
        )
    return rows


PARITY_HEADER = [
    "backend",
    "device",
    "precision",
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
    "± rounds",
    "p90 ms",
    "p99 ms",
    "samples/s",
    "vs eager",
    "calls/rounds",
]


def headline(result: BenchResult) -> str:
    """What was measured, on what, with which runtimes: a figure depends on all of it."""
    env = result.environment
    machine = env.machine if env else None
    features = ", ".join(FEATURES[f] for f in machine.features) if machine else ""
    features = features or "none of " + ", ".join(sorted(set(FEATURES.values())))
    versions = ", ".join(f"{k} {v}" for k, v in env.versions.items()) if env else ""
    cuda = env.cuda if env else None
    gpu = f"; {cuda.device} (compute {cuda.capability})" if cuda else ""
    return (
        f"{result.model} ({result.source}); parity and top-1 on {result.inputs}; "
        f"{result.threads} thread(s) on {machine.cpu if machine else '?'} ({features}){gpu}; "
        f"{versions}"
    )


def settings_lines(result: BenchResult) -> list[str]:
    """The precision settings each runtime really ran at."""
    settings = result.environment.precision_settings if result.environment else {}
    return [f"{key}: {value}" for key, value in settings.items()]


def verdict(result: BenchResult) -> str:
    rules = "; ".join(f"{p.title}: {p.rule}" for p in PRECISIONS.values())
    word = "pass" if result.passed else "FAIL"
    return f"parity: {word} ({rules}; b the eager output); {result.wall_seconds:.1f} s"


def tables(result: BenchResult) -> list[Table]:
    return [
        ("Backends", backend_header(result), backend_rows(result)),
        ("Parity against eager", PARITY_HEADER, parity_rows(result)),
        ("Latency (p50 ± spread of the rounds' medians)", LATENCY_HEADER, latency_rows(result)),
    ]


def markdown(result: BenchResult) -> str:
    """The result as markdown tables, ready to paste."""
    lines = [f"**{headline(result)}**", ""]
    for _, header, rows in tables(result):
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    lines += [f"- {line}" for line in settings_lines(result)]
    lines += [f"- skipped {s.backend} ({s.device}): {s.reason}" for s in result.skipped]
    if result.noise:
        lines.append(f"- {result.noise}")
    return "\n".join(lines).rstrip() + "\n"
