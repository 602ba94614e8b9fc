"""Thin commands, complete engines: a command module (zoo/cli/) parses and prints; what a command
works on (its test and calibration samples, the test-time augmentation, the output folder, the
weights eval measures, the release verify re-checks) is found by its engine. Read from the source
with ``ast`` (function-local imports included), so a command that starts picking its own samples
again fails here, naming the module and the line."""

from __future__ import annotations

import ast
from pathlib import Path

import zoo.cli

CLI = Path(zoo.cli.__file__).parent
HELPER_MODULES = (  # sampling, calibration and TTA helpers: engines' business
    "zoo.export.samples",
    "zoo.export.optimize.sampling",
    "zoo.tta",
)
HELPER_NAMES = {  # the functions themselves, however a module reaches them
    "load_samples",
    "real_samples",
    "random_samples",
    "evaluation_samples",
    "calibration_samples",
    "missing_data_hint",
    "load_data",
    "chosen_tta",
    "with_tta",
    # what eval, publish and verify plan and run in their engines: eval's one call (plan, run,
    # save: training's figure and publish's measurement use it), publish's pre-work checks of
    # an export, the Hub release verify re-checks
    "evaluate_weights",
    "check_request",
    "release_to_verify",
}


def is_helper(module: str) -> bool:
    return any(module == m or module.startswith(f"{m}.") for m in HELPER_MODULES)


def import_uses(node: ast.AST) -> list[str]:
    """What an import statement brings in of the helpers: ``from zoo.export import samples``
    is the module ``zoo.export.samples``; one finding per name imported."""
    if isinstance(node, ast.Import):
        return [f"imports {a.name}" for a in node.names if is_helper(a.name)]
    if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
        return []
    found = []
    for alias in node.names:
        inner = f"{node.module}.{alias.name}"
        if is_helper(node.module) or is_helper(inner):
            found.append(f"imports {inner}")
        elif alias.name in HELPER_NAMES:
            found.append(f"imports {alias.name} from {node.module}")
    return found


def helper_uses(path: Path) -> list[str]:
    """Each import of a helper module or name, and each use of a helper's name, in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        found += [f"{path.name}:{node.lineno} {use}" for use in import_uses(node)]
        if isinstance(node, ast.Attribute) and node.attr in HELPER_NAMES:
            found.append(f"{path.name}:{node.lineno} uses .{node.attr}")
        if isinstance(node, ast.Name) and node.id in HELPER_NAMES:
            found.append(f"{path.name}:{node.lineno} uses {node.id}")
    return found


def test_no_command_module_picks_samples_calibration_or_tta() -> None:
    modules = sorted(CLI.glob("*.py"))
    assert len(modules) > 20  # every command module is read
    found = [use for path in modules for use in helper_uses(path)]
    assert not found, "command modules doing engine work:\n" + "\n".join(found)


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    """The check is not blind: each way of reaching a helper is caught."""
    forms = {
        "from zoo.export.samples import Samples": 1,
        "from zoo.export import samples": 1,
        "import zoo.tta": 1,
        "from zoo.sources import EXPORTS, chosen_tta": 1,
        "from zoo import sources\nsources.chosen_tta(1, 2)": 1,
        "from zoo.export.optimize.sampling import OptimizeData": 1,
        "from zoo.sources import EXPORTS\nfrom zoo.export import pipeline": 0,
    }
    for number, (text, count) in enumerate(forms.items()):
        module = tmp_path / f"m{number}.py"
        module.write_text(f"def command():\n    {text.replace(chr(10), chr(10) + '    ')}\n")
        assert len(helper_uses(module)) == count, (text, helper_uses(module))
