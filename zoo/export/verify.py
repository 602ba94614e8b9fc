"""``zoo verify``: re-check a deployed export on its own. Every file's sha256 against the manifest,
the weights copy's against the card, then the recorded verification run again: the stored inputs
(``verification.npz``) through each file with the runtime its certificate names, compared with
the stored eager outputs by the same rule, for the same verdict. A file edited, or a runtime
upgraded that changes answers, no longer passes; where the file was certified on this machine with
these runtimes, its figures must be the certified ones too (a certificate that records other numbers
than were measured is refused). Top-1 is measured again on the dataset the export was verified on,
where its data is here (``--data-dir``, else the default data folder). :func:`plan` finds what to
re-check (a Hub release: its cached folder, fetched if needed) and refuses what cannot be, before
any check; :func:`run` re-checks it and returns a :class:`VerifyReport`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo.artifacts.manifest import (
    NORMALISED,
    Certificate,
    Manifest,
    ManifestFile,
    Parity,
    from_props,
)
from zoo.errors import ZooError
from zoo.export import runtimes
from zoo.export.checks import CHECKS_FILE, Checks, check_file, read_checks
from zoo.export.formats import FORMATS
from zoo.export.optimize.candidates import decided_outputs
from zoo.export.options import VerifyRequest
from zoo.export.parity import top1_accuracy
from zoo.export.pipeline import versions
from zoo.export.precisions import PRECISIONS
from zoo.export.samples import Samples, evaluation_samples
from zoo.files import sha256_file
from zoo.machine import this_machine
from zoo.sources import ExportDirectory, ExportFile, HubRelease, OnnxFile, SourceRequest, resolve
from zoo.weights.releases import release_to_verify


@dataclass(frozen=True)
class FileCheck:
    """One file, checked again: its recorded and its new verification, or why it could not be."""

    file: str
    label: str  # "onnx", "onnx int8"
    recorded: Parity
    now: Parity | None = None
    problem: str = ""  # "differs from its manifest (sha256)", ...
    top1_recorded: float | None = None
    top1_now: float | None = None

    @property
    def passed(self) -> bool:
        if self.problem or self.now is None or not self.now.passed:
            return False
        if self.top1_now is not None and self.top1_recorded is not None:
            return abs(self.top1_now - self.top1_recorded) < 1e-9
        return True


@dataclass
class VerifyReport:
    """What ``zoo verify`` found."""

    target: Path
    model: str
    inputs: str
    files: list[FileCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # about the export as a whole
    accuracy: str = ""  # where top-1 was measured again, or why not
    decision: list[str] = field(default_factory=list)  # zoo optimize's choice, for people

    @property
    def passed(self) -> bool:
        return not self.problems and bool(self.files) and all(f.passed for f in self.files)

    def to_json(self) -> dict[str, Any]:
        """What ``zoo verify --json`` prints."""
        return {
            "target": str(self.target),
            "passed": self.passed,
            "problems": self.problems,
            "accuracy": self.accuracy,
            "decision": self.decision,
            "files": [
                {
                    "file": f.file,
                    "passed": f.passed,
                    "problem": f.problem,
                    "recorded": asdict(f.recorded),
                    "now": asdict(f.now) if f.now else None,
                    "top1_recorded": f.top1_recorded,
                    "top1_now": f.top1_now,
                }
                for f in self.files
            ],
        }


@dataclass(frozen=True)
class VerifyJob:
    """What ``zoo verify`` re-checks: an export directory (all its files, or ``only`` one)."""

    directory: Path
    only: str | None
    request: VerifyRequest


VERIFIES = (ExportDirectory, ExportFile, HubRelease, OnnxFile)


def plan(request: VerifyRequest, say: Callable[[str], None] | None = None) -> VerifyJob:
    """The export directory (and file) ``request`` names (:func:`zoo.sources.resolve`), refused
    before any check when it is none; a Hub release is the folder ``zoo predict`` caches it in
    (``say`` hears a download)."""
    source = resolve(request.target, accept=VERIFIES, command="zoo verify")
    if isinstance(source, HubRelease):
        return VerifyJob(release_to_verify(source.spec, say), None, request)
    if isinstance(source, ExportDirectory):
        return VerifyJob(source.path, None, request)
    if isinstance(source, ExportFile):
        return VerifyJob(source.export_dir, source.entry.path, request)  # listed, or refused
    certificate = from_props(FORMATS["onnx"].read_props(source.path), source.label).certificate
    if certificate is None:
        raise ZooError(f"{source.path} carries no parity certificate: export it with 'zoo export'")
    raise ZooError(
        f"{source.path} was certified on {certificate.inputs}; re-checking it needs the export "
        f"directory it came from (its manifest.json and {CHECKS_FILE} beside it)"
    )


def run(job: VerifyJob) -> VerifyReport:
    """Re-check the files ``job`` names: hashes, their verification, their top-1."""
    directory, only = job.directory, job.only
    manifest = Manifest.read(directory)
    entries = [e for e in manifest.files if only is None or e.path == only]
    report = VerifyReport(directory, manifest.card.model, manifest.inputs)
    if manifest.decision is not None:
        report.decision = manifest.decision.lines()
    weights = manifest.export.weights_file
    copy = directory / weights
    if weights and copy.is_file() and sha256_file(copy) != manifest.card.weights_sha256:
        report.problems.append(f"{copy} differs from the weights exported (sha256)")
    checks = stored_checks(directory, entries, not manifest.card.regression)
    if isinstance(checks, str):
        report.problems.append(checks)
    test = accuracy_samples(directory, manifest, job.request.data_dir, report)
    for entry in entries:
        report.files.append(recheck(directory, manifest, entry, checks, test))
    return report


def stored_checks(
    directory: Path, entries: list[ManifestFile], classification: bool
) -> Checks | str:
    """The stored inputs and eager outputs, checked against the certificates; a problem as text."""
    path = directory / CHECKS_FILE
    if not path.is_file():
        return f"{path} is missing (an export from before zoo verify, or removed): export again"
    digest = sha256_file(path)
    certified = {e.certificate.checks_sha256 for e in entries if e.certificate is not None}
    if certified and certified != {digest}:
        return f"{path} differs from the one the files were certified on (sha256)"
    return read_checks(path, classification)


def accuracy_samples(
    directory: Path, manifest: Manifest, data_dir: str | None, report: VerifyReport
) -> Samples | None:
    """The labelled samples top-1 was measured on at export, drawn again (as every command
    draws them: :func:`evaluation_samples`) where the data is here (``data_dir``, which must
    hold it, else the default data folder)."""
    recorded = next((e.facts.accuracy for e in manifest.files if e.facts.accuracy), None)
    if manifest.dataset is None or recorded is None or recorded.top1 is None:
        report.accuracy = "top-1 was not measured at export (no labelled data), so not again"
        return None
    seed = int(manifest.rules.get("seed", 0))
    decision = manifest.decision
    count = decision.draw if decision is not None and decision.draw else recorded.samples
    data = SourceRequest(data_dir=data_dir, seed=seed)
    samples = evaluation_samples(ExportDirectory(directory), data, count)
    if not samples.labelled:  # not in the default data folder
        report.accuracy = (
            f"top-1 not measured again: pass --data-dir DIR where {manifest.dataset.name}'s "
            "files are to measure it"
        )
        return None
    if decision is not None and decision.draw:  # zoo optimize's confirmation sample
        cut = list(range(decision.cut, len(samples)))
        samples = samples.subset(cut, f"the confirmation sample, {len(cut):,} of {samples.origin}")
    report.accuracy = f"top-1 measured again on {samples.origin}"
    return samples


def recheck(
    directory: Path,
    manifest: Manifest,
    entry: ManifestFile,
    checks: Checks | str,
    test: Samples | None,
) -> FileCheck:
    """One file: present and unchanged, then its verification and accuracy again."""
    recorded = entry.verification
    try:
        path = manifest.checked_path(directory, entry)
        certificate = own_certificate(path, entry)
    except ZooError as exc:
        return FileCheck(entry.path, entry.label, recorded, problem=str(exc))
    if isinstance(checks, str):
        return FileCheck(entry.path, entry.label, recorded, problem="no verification inputs")
    runner = FORMATS[entry.format].runner(path)
    batch = manifest.export.fixed_batch
    precision = PRECISIONS[entry.precision]
    now = check_file(runner, checks, batch, entry.label, precision, certified=recorded)
    checked = certificate is not None and now.passed  # a broken rule says it first
    problem = figures_differ(now, certificate, entry) if checked else ""
    top1_now = top1_recorded = None
    if test is not None and entry.facts.accuracy is not None:
        fitted = test.fit(batch)  # as at export: whole batches for a fixed-batch file
        inputs = fitted.raw if entry.facts.input != NORMALISED else fitted.inputs
        run = manifest.decision.run if manifest.decision is not None else None
        if run is not None and run.file == entry.path and run.backend:  # as it was confirmed
            outputs = decided_outputs(run.backend, path, entry.facts, run.threads, inputs)
        else:
            outputs = runtimes.run_in_chunks(runner, inputs, batch or 256)
        top1_now = top1_accuracy(outputs, fitted.labels)
        top1_recorded = entry.facts.accuracy.top1
    return FileCheck(entry.path, entry.label, recorded, now, problem, top1_recorded, top1_now)


def own_certificate(path: Path, entry: ManifestFile) -> Certificate | None:
    """The certificate the file carries, which must be the one its manifest lists."""
    carried = from_props(FORMATS[entry.format].read_props(path), str(path)).certificate
    if carried is not None and entry.certificate is not None and carried != entry.certificate:
        raise ZooError(f"{path} carries another certificate than its manifest lists")
    return carried or entry.certificate


def figures_differ(now: Parity, certificate: Certificate, entry: ManifestFile) -> str:
    """Where the file was certified on this machine with these runtimes, its figures measured
    again must be the certified ones (the runtimes are deterministic there; 1 % of slack): a
    certificate that records other numbers than were measured is refused. On another machine
    or runtime, only the rule decides ("" then)."""
    same_place = (
        dict(certificate.machine) == this_machine().to_json()
        and dict(certificate.versions) == versions()
        and certificate.runtime == FORMATS[entry.format].runtime()
    )
    certified = certificate.parity
    close = abs(now.max_abs - certified.max_abs) <= 0.01 * max(now.max_abs, certified.max_abs)
    agree = now.top1_agreement == certified.top1_agreement
    if not same_place or (close and agree):
        return ""
    return (
        f"its certificate records max |a−b| {certified.max_abs:.2e} and top-1 agreement "
        f"{certified.top1_agreement}, but the same file, inputs, runtime and machine give "
        f"{now.max_abs:.2e} and {now.top1_agreement} now: the certificate is not what was measured"
    )
