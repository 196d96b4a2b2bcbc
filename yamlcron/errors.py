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


#: Problems a ManifestError lists; past them one line counts the rest. A file that is not
#: a manifest at all can have tens of thousands, and nobody reads past the first screens.
MAX_ISSUES = 200


class ManifestError(YamlcronError):
    """The manifest is invalid; ``issues`` holds the problems found, in file order.

    At most ``MAX_ISSUES`` of them, then one more, at the first one left out, that counts
    the rest (``hidden``).
    """

    def __init__(self, issues: list[Issue]) -> None:
        # dict.fromkeys: one problem found by two checks is reported once.
        unique = dict.fromkeys(issues)
        ordered = sorted(unique, key=lambda i: (i.file, i.line, i.column, i.path, i.message))
        self.hidden = max(len(ordered) - MAX_ISSUES, 0)
        self.issues = ordered[:MAX_ISSUES]
        if self.hidden:
            first = ordered[MAX_ISSUES]
            message = f"{self.hidden:,} more problems from here on are not shown"
            self.issues.append(Issue(first.file, first.line, first.column, "", message))
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


class StoreGoneError(StoreError):
    """The store was deleted or replaced under a running process, which must stop."""


class LeaseLostError(StoreError):
    """This replica's lease expired and was taken over: its claims and results are refused."""


class DeliveryError(YamlcronError):
    """A notifier could not deliver an event (or a ping failed); the message holds no secret.

    Raised by a notifier's ``notify``, it is logged as this one line on the notifier's logger
    (``yamlcron.notify.<via>``), without a traceback, and counted as a failed delivery.
    """
