"""Errors that zoo reports to users as one clear line (the CLI prints them without a traceback)."""

from __future__ import annotations


class ZooError(Exception):
    """A problem with the user's input or environment, reported as one line."""


class UnknownNameError(ZooError, KeyError):
    """No registered entry has the requested name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class NameConflictError(ZooError):
    """Two distributions register the same name and the user did not say which one to use."""


class PluginError(ZooError):
    """A plugin entry failed to import or to build."""


class CacheDamaged(ZooError):
    """A file in zoo's cache differs from the manifest it came with: it was removed, to be made
    (or downloaded) again; the message says which and why."""


class ArgumentError(ZooError, ValueError):
    """A hyper-parameter or option has an unknown name or an invalid value."""


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message``: how zoo quotes an error it did not raise itself."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
