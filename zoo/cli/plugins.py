"""``zoo plugins``: each distribution that registers entries, its version, and whether each
entry loads."""

from __future__ import annotations

from rich.markup import escape

from zoo.cli.output import console, print_json, say, show_table
from zoo.cli.params import Json
from zoo.registry import DISABLE_ENV, Entry, get_registry


def plugins(as_json: Json = False) -> None:
    """Show each installed plugin's entries and whether they load.

    Each distribution that registers entries, its version, and whether each entry loads and its
    metadata (zoo_info, weights declarations included) is valid; failures first.

    Set ZOO_DISABLE_PLUGIN_AUTOLOAD=1 to use zoo's built-ins only.

    Example: `zoo plugins --json`
    """
    from zoo.entry_report import entry_status

    registry = get_registry()
    entries: list[Entry] = registry.entries() + registry.invalid
    rows = []
    for entry in sorted(entries, key=lambda e: (not e.builtin, e.dist.lower(), e.kind, e.name)):
        failed_at, error = entry_status(entry)
        rows.append(
            {
                "distribution": entry.dist,
                "version": entry.version,
                "kind": entry.kind,
                "name": entry.name,
                "target": entry.target,
                "status": "failed" if failed_at else "ok",
                "failed_at": failed_at or None,  # "load" or "metadata"
                "error": error or None,
            }
        )
    if as_json:
        print_json(rows)
        return
    failed = [row for row in rows if row["status"] == "failed"]
    cells = []
    for row in [*failed, *(row for row in rows if row["status"] == "ok")]:  # failures first
        where = "" if row["failed_at"] == "load" else f" ({row['failed_at']})"
        status = "[green]ok[/green]" if row["status"] == "ok" else f"[red]failed{where}[/red]"
        cells.append([row["distribution"], row["version"], row["kind"], row["name"], status])
    show_table(["Distribution", "Version", "Kind", "Entry", "Status"], cells)
    say(console, f"{len(rows)} entries, {len(failed)} failed{':' if failed else '.'}")
    for row in failed:
        entry = f"{row['distribution']} {row['kind']} '{row['name']}'"
        say(console, f"  [red]{escape(entry)}[/red]: {escape(row['error'] or '')}", indent=4)
    if registry.skipped_plugins:
        console.print(
            f"[dim]{registry.skipped_plugins} third-party entries skipped: {DISABLE_ENV} is set.[/dim]"
        )
