"""Uploading a release to the Hugging Face Hub with ``huggingface_hub``: the user's usual login
(``HF_TOKEN`` or the token ``hf auth login`` stored), the repository created when missing, the
folder in one commit. Every way it can fail is one line, and login and network are checked
before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import ZooError, first_line
from zoo.weights.releases import INSTALL, HubRepo

CONNECTION_ERRORS = ("ConnectError", "ConnectionError", "ConnectTimeout", "TimeoutException")


def client(repo: HubRepo) -> Any:
    """The huggingface_hub module, or a one-line error saying how to install it."""
    try:
        import huggingface_hub
        import huggingface_hub.constants
    except ImportError:
        raise ZooError(f"--to {repo.spec} publishes to the Hugging Face Hub: {INSTALL}") from None
    return huggingface_hub


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a huggingface_hub error, None when there was no answer."""
    return getattr(getattr(exc, "response", None), "status_code", None)


def unreachable(exc: BaseException) -> bool:
    """Whether the error is a connection that never got an answer (no network, wrong host)."""
    kinds = {kind.__name__ for kind in type(exc).__mro__}
    return status_of(exc) is None and bool(kinds & set(CONNECTION_ERRORS))


def check_login(repo: HubRepo) -> str:
    """The user the login belongs to; no token, a refused token or no network is one line."""
    hub = client(repo)
    endpoint = hub.constants.ENDPOINT
    if not hub.get_token():
        raise ZooError(
            f"--to {repo.spec}: not logged in to the Hugging Face Hub ({endpoint}): run 'hf auth "
            "login' or set HF_TOKEN to a token that may write there"
        )
    try:
        return str(hub.HfApi().whoami().get("name", ""))
    except Exception as exc:  # huggingface_hub's and httpx's errors alike
        if status_of(exc) == 401:
            raise ZooError(
                f"--to {repo.spec}: the Hub ({endpoint}) refuses the login (HF_TOKEN or the "
                "stored token): log in again with 'hf auth login'"
            ) from None
        if unreachable(exc):
            raise ZooError(
                f"--to {repo.spec}: cannot reach the Hugging Face Hub at {endpoint} "
                f"({first_line(exc)}); publish needs the network for it (or --to a folder)"
            ) from None
        raise ZooError(f"--to {repo.spec}: the Hub answered {first_line(exc)}") from None


def upload(folder: Path, repo: HubRepo, message: str) -> str:
    """``folder`` into ``repo`` (created when missing) in one commit; the commit's id."""
    hub = client(repo)
    api = hub.HfApi()
    try:
        api.create_repo(repo.repo_id, exist_ok=True, repo_type="model")
        info = api.upload_folder(
            repo_id=repo.repo_id,
            folder_path=str(folder),
            commit_message=message,
            revision=repo.revision or None,
            repo_type="model",
        )
    except Exception as exc:  # huggingface_hub's and httpx's errors alike
        raise ZooError(upload_error(repo, exc)) from None
    return str(info.oid)


def upload_error(repo: HubRepo, exc: BaseException) -> str:
    """Why an upload failed, in one line that says what to do."""
    kinds = {kind.__name__ for kind in type(exc).__mro__}
    if "RevisionNotFoundError" in kinds:
        return (
            f"{repo.repo_id} on the Hub has no branch '{repo.revision}': create it first "
            f"(huggingface_hub.HfApi().create_branch('{repo.repo_id}', branch='{repo.revision}'))"
            " or publish to hf://" + repo.repo_id
        )
    if status_of(exc) in (401, 403):
        return f"the Hub refuses to let this login write to {repo.repo_id}: {first_line(exc)}"
    if unreachable(exc):
        return f"cannot reach the Hugging Face Hub to publish {repo.spec}: {first_line(exc)}"
    return f"publishing to {repo.spec} failed: {first_line(exc)}"
