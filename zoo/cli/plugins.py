"""``zoo plugins``: each distribution that registers entries, its version, and whether each
entry loads."""

from __future__ import annotations

from rich.markup import escape

from zoo.cli.output import console, print_json, say, show_table
from zoo.cli.params import Json
from zoo.registry import DISABLE_ENV, get_registry


def plugins(as_json: Json = False) -> None:
    """Show each installed plugin's entries and whether they load.

    Each distribution that registers entries, its version, and whether each entry loads and its
    metadata (zoo_info, weights declarations included) is valid; failures first.

    Set ZOO_DISABLE_PLUGIN_AUTOLOAD=1 to use zoo's built-ins only.

    Example: `zoo plugins --json`
    """
    from zoo.entry_report import plugin_entries

    found = plugin_entries()
    if as_json:
        print_json([entry.to_json() for entry in found])
        return
    failed = [entry for entry in found if entry.failed]
    cells = []
    for entry in [*failed, *(entry for entry in found if not entry.failed)]:  # failures first
        where = "" if entry.failed_at == "load" else f" ({entry.failed_at})"
        status = f"[red]failed{where}[/red]" if entry.failed else "[green]ok[/green]"
        cells.append([entry.distribution, entry.version, entry.kind, entry.name, status])
    show_table(["Distribution", "Version", "Kind", "Entry", "Status"], cells)
    say(console, f"{len(found)} entries, {len(failed)} failed{':' if failed else '.'}")
    for entry in failed:
        named = f"{entry.distribution} {entry.kind} '{entry.name}'"
        say(console, f"  [red]{escape(named)}[/red]: {escape(entry.error)}", indent=4)
    registry = get_registry()
    if registry.skipped_plugins:
        console.print(
            f"[dim]{registry.skipped_plugins} third-party entries skipped: {DISABLE_ENV} is set.[/dim]"
        )
