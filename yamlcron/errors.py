"""The errors a user sees: each prints as one line and exits 1; anything else is a bug."""

from __future__ import annotations

from dataclasses import dataclass


class YamlcronError(Exception):
    """A failure caused by input or environment, printed as ``error: <message>``."""


@dataclass(frozen=True, slots=True)
class Issue:
    """One located problem in a manifest."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return _one_line(f"{self.file}:{self.line}:{self.column}: {where}{self.message}")


def _one_line(text: str) -> str:
    """``text`` with what would break the line or hide in it escaped, as Python writes it.

    A key may hold a newline (``"a\\nb": ...``): printed raw, one problem would take two
    lines and the second would not start with ``FILE:LINE:COL:``.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ManifestError(YamlcronError):
    """The manifest is invalid; ``issues`` holds every problem found, in file order."""

    def __init__(self, issues: list[Issue]) -> None:
        # dict.fromkeys: one problem found by two checks is reported once.
        unique = dict.fromkeys(issues)
        self.issues = sorted(unique, key=lambda i: (i.file, i.line, i.column, i.path, i.message))
        super().__init__("\n".join(str(i) for i in self.issues))


class PlanRefusedError(YamlcronError):
    """The deletion guard refused a plan (override with ``--force``)."""


class StoreError(YamlcronError):
    """The job store cannot be opened, read or written."""


class CorruptJobError(StoreError):
    """A job's row in the store cannot be read back (a damaged file, a hand edit)."""


class PluginError(YamlcronError):
    """A plugin is missing, duplicated or broken."""


class UnknownJobError(YamlcronError):
    """A command named a job the manifest or store does not hold."""


class LeaseLostError(StoreError):
    """This replica's lease expired and was taken over: its claims and results are refused."""
