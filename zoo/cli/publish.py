"""``zoo publish``: parse and print; the work is :mod:`zoo.publish.plan`'s (every refusal before
any work) and :mod:`zoo.publish.release`'s (``run``). The ``--int8`` and ``--fp16`` switches come
from the precisions' registry, as ``zoo export``'s do."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from zoo.cli.export import PRECISION_SWITCHES
from zoo.cli.params import Json, parameters, with_options
from zoo.publish.options import PublishRequest

if TYPE_CHECKING:
    from zoo.publish.release import Published


@with_options([*PRECISION_SWITCHES, *parameters(PublishRequest)])
def publish(
    source: Annotated[
        str,
        typer.Argument(
            metavar="RUN_DIR|CHECKPOINT",
            help="A run directory (the weights it keeps) or a .safetensors checkpoint.",
        ),
    ],
    *,
    as_json: Json = False,
    **values: Any,
) -> None:
    """Publish trained weights: a release folder anyone can install, verify and use.

    The folder holds the weights as `MODEL-NAME-<8 hex of sha256>.safetensors` (the card
    inside), the ONNX export verified against PyTorch with its parity certificate (int8 and
    float16 files with --int8, --fp16), README.md (a Hugging Face model card: metrics measured
    again now with this very file, on the declared split, with their sample size and 95 %
    interval; the per-class table, the curves and confusion matrix, the training command,
    preprocessing, usage, the certificate, versions, limitations) and weights.json (the
    declaration, as zoo.meta.weights_index reads it).

    - --name is what users pass as `zoo eval MODEL --weights NAME` (lower-case letters,
      digits, '-', '_', '.'; not 'default'); an earlier release in --out is replaced whole.
    - --plugin DIR (a project with its pyproject.toml) gets the declaration in its package's
      weights/weights.json and the file beside it, so that pip install ships them (with --to:
      the URL instead of the file).
    - --to hf://OWNER/REPO[@BRANCH] uploads the folder to the Hugging Face Hub in one commit
      (your usual login: HF_TOKEN or 'hf auth login'); --to DIR (or a file:// URL) copies it
      into a folder a static web server serves at --base-url. The declaration to paste is
      printed.
    - --license is the card's `license`; --note goes into the declaration and the card's
      limitations.

    Examples:

    - `zoo publish runs/my-net-digits-20250101-120000 --name digits-v1 --plugin ./zoo-my-net`
    - `zoo publish runs/my-net-... --name digits-v1 --to hf://me/my-net --license mit`
    - `zoo publish runs/my-net-... --name digits-v1 --to /srv/www/models --base-url https://example.org/models`
    """
    run_publish(source, as_json, values)


def run_publish(source: str, as_json: bool, values: dict[str, Any]) -> None:
    """Build the request, plan (every refusal before any work), publish, print what was written
    and where it went."""
    from zoo.cli.output import error_console, print_json
    from zoo.export.precisions import DERIVED
    from zoo.flags import build
    from zoo.publish import release
    from zoo.publish.plan import plan

    precisions = tuple(p.name for p in DERIVED if values.pop(p.name, False))
    checked = plan(build(PublishRequest, values, spec=source, precisions=precisions))

    def say(text: str) -> None:
        if not as_json:
            error_console.print(f"[dim]{text}…[/dim]", highlight=False, soft_wrap=True)

    published = release.run(checked, say)
    if as_json:
        print_json(release.describe(published))
        return
    print_published(published)


def print_published(published: Published) -> None:
    """The release's files, its measured metric, where it went, the declaration to paste."""
    from zoo.cli.output import console, say
    from zoo.publish.modelcard import headline
    from zoo.publish.plugin import entry_json

    checked, delivery = published.plan, published.delivery

    def show(text: str) -> None:
        say(console, text, indent=4)

    show(f"[bold]{checked.model}[/bold] weights '{checked.name}': release in {checked.out}")
    show(f"  {checked.file_name}  sha256 {checked.sha256}")
    show(f"  {headline(published.measured)} (measured again just now)")
    for entry in published.manifest.files:
        parity = entry.verification
        agree = "" if parity.top1_agreement is None else f", agrees {parity.top1_agreement:.0%}"
        show(f"  [green]ok[/green] {entry.path}  verified: max |a−b| {parity.max_abs:.1e}{agree}")
    show("  README.md (the model card), weights.json (the declaration), manifest.json")
    if delivery is not None:
        show(f"published to {delivery.where}")
        if delivery.spec:
            show(
                f"  use it: zoo predict {delivery.spec} IMAGE   (or zoo.create_model('{delivery.spec}'))"
            )
    if checked.package is not None:
        show(
            f"added to the plugin: {checked.package.index} (rebuild and reinstall the plugin to "
            "ship it)"
        )
    for note in published.plugin_notes:
        show(f"  [yellow]note: {note}[/yellow]")
    if delivery is not None:
        where = "to paste into a plugin's weights/weights.json"
    elif checked.package is not None:
        where = f"as written into {checked.package.index}"
    else:
        where = "the release's weights.json"
    show(f'declaration ({where}, under "{checked.model}"):')
    sys.stdout.flush()
    declaration = entry_json(published.pasted or published.declaration)
    sys.stdout.write(json.dumps(declaration, indent=2) + "\n")
