"""Third-party distributions installed beside zoo: discovery, broken plugins, name clashes."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import run_zoo


def listing(site, *args, **env):
    result = run_zoo("list", *args, "--json", site=site, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_installed_plugin_appears_with_its_source(plugin_site):
    rows = {(r["kind"], r["name"], r["source"]): r for r in listing(plugin_site)}
    assert ("dataset", "tiny-blobs", "zoo-fixture-good") in rows
    assert ("optimizer", "plain-sgd", "zoo-fixture-good") in rows
    assert rows[("optimizer", "plain-sgd", "zoo-fixture-good")]["version"] == "1.2.3"
    assert rows[("optimizer", "adam", "torch-zoo")]["builtin"] is True


def test_listing_filters_by_kind_and_wildcard(plugin_site):
    names = {(r["kind"], r["name"]) for r in listing(plugin_site, "optimizers", "*sgd")}
    assert names == {("optimizer", "sgd"), ("optimizer", "plain-sgd")}
    assert {r["name"] for r in listing(plugin_site, "tiny-*")} == {"tiny-net", "tiny-blobs"}


def test_clash_is_shown_and_plain_name_refused(plugin_site):
    clashing = [r for r in listing(plugin_site, "models", "tiny-net")]
    assert {r["source"] for r in clashing} == {"zoo-fixture-good", "zoo-fixture-clash"}
    assert all(r["conflict"] for r in clashing)
    table = run_zoo("list", "models", site=plugin_site).stdout
    assert "zoo-fixture-good:tiny-net" in table and "conflict" in table

    result = run_zoo("info", "tiny-net", site=plugin_site)
    assert result.returncode == 2
    assert (
        "zoo-fixture-good:tiny-net" in result.stderr
        and "zoo-fixture-clash:tiny-net" in result.stderr
    )
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_qualified_name_picks_one_distribution(plugin_site):
    result = run_zoo("info", "zoo-fixture-good:tiny-net", "--json", site=plugin_site)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == "zoo-fixture-good"
    assert report["description"] == "Tiny MLP from a plugin."
    # 3*8*8*16 + 16 + 16*2 + 2 parameters for the plugin dataset's shape and two classes
    assert report["size"] == {
        "input_shape": [3, 8, 8],
        "num_classes": 2,
        "parameters": 3122,
        "trainable": 3122,
    }
    other = json.loads(
        run_zoo("info", "zoo_fixture_clash:tiny-net", "--json", site=plugin_site).stdout
    )
    assert (
        other["source"] == "zoo-fixture-clash"
        and other["description"] == "A different tiny network under the same name."
    )


def test_broken_plugin_is_reported_not_fatal(plugin_site):
    result = run_zoo("plugins", "--json", site=plugin_site)
    assert result.returncode == 0, result.stderr
    rows = {(r["distribution"], r["name"]): r for r in json.loads(result.stdout)}
    broken = rows[("zoo-fixture-broken", "broken-net")]
    assert broken["status"] == "failed"
    assert broken["error"] == "RuntimeError: this plugin is broken on purpose"
    assert rows[("zoo-fixture-broken", "Bad_Name")]["status"] == "failed"
    assert "invalid name" in rows[("zoo-fixture-broken", "Bad_Name")]["error"]
    assert rows[("zoo-fixture-broken", "missing-opt")]["error"].startswith("ModuleNotFoundError")
    assert rows[("zoo-fixture-good", "plain-sgd")]["status"] == "ok"
    assert rows[("torch-zoo", "adam")]["status"] == "ok"
    table = run_zoo("plugins", site=plugin_site).stdout
    assert "zoo-fixture-broken" in table and "0.0.1" in table and "failed" in table


@pytest.mark.parametrize("columns", [80, 100, 200])
def test_a_failed_plugin_heads_the_table_at_any_width(plugin_site, columns):
    """The table stays a table (a header, a row per entry) that fits, failures first; each
    failure's error follows it in full, wrapped at words."""
    lines = run_zoo("plugins", site=plugin_site, COLUMNS=str(columns)).stdout.splitlines()
    assert max(map(len, lines)) <= columns
    assert lines[0].split() == ["Distribution", "Version", "Kind", "Entry", "Status"]
    entries = len(json.loads(run_zoo("plugins", "--json", site=plugin_site).stdout))
    assert lines[1].startswith("zoo-fixture-broken") and "failed" in lines[1]
    failed = next(i for i, line in enumerate(lines) if " failed:" in line)
    assert failed == entries + 1  # the table, then the count and the failures
    assert "this plugin is broken on purpose" in " ".join(" ".join(lines[failed:]).split())


def test_using_broken_entry_is_one_line_naming_the_distribution(plugin_site):
    result = run_zoo("info", "broken-net", site=plugin_site)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "zoo-fixture-broken" in lines[0] and "broken on purpose" in lines[0]
    assert "second line" not in result.stderr
    # everything else keeps working in the same environment
    assert run_zoo("info", "plain-sgd", site=plugin_site).returncode == 0


def test_unknown_name_suggests_and_mentions_failures(plugin_site):
    result = run_zoo("info", "tiny-blob", "--kind", "dataset", site=plugin_site)
    assert result.returncode == 2
    assert "did you mean 'tiny-blobs'" in result.stderr
    assert "zoo-fixture-broken" in result.stderr  # the invalid entry is mentioned
    assert "Traceback" not in result.stderr


def test_environment_variable_disables_third_party_plugins(plugin_site):
    rows = listing(plugin_site, ZOO_DISABLE_PLUGIN_AUTOLOAD="1")
    assert rows and {r["source"] for r in rows} == {"torch-zoo"}
    table = run_zoo("list", site=plugin_site, ZOO_DISABLE_PLUGIN_AUTOLOAD="1").stdout
    assert "ZOO_DISABLE_PLUGIN_AUTOLOAD" in table
    result = run_zoo("info", "plain-sgd", site=plugin_site, ZOO_DISABLE_PLUGIN_AUTOLOAD="1")
    assert result.returncode == 2 and "disabled" in result.stderr


def test_list_and_help_import_neither_torch_nor_plugins(plugin_site):
    probe = (
        "import sys; sys.argv = ['zoo'] + sys.argv[1:]\n"
        "import zoo.cli.app\n"
        "try:\n    zoo.cli.app.main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'torchvision', 'numpy', 'matplotlib', 'zoo_fixture_good', 'zoo_fixture_broken'))\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(plugin_site)}
    for args in (
        ["--help"],
        ["list"],
        ["list", "models", "--json"],
        ["list", "--help"],
        ["info", "--help"],
    ):
        result = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env
        )
        assert "HEAVY []" in result.stderr, (args, result.stderr[-500:])
