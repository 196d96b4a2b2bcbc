"""The building blocks of the status page: escaping, the frame, tables, times, statuses.

Every value that comes from a job, a run or a query goes through ``esc`` (``link``
quotes and escapes the addresses it builds); everything else here is our own markup.
Links are relative to the page (``root`` is the way back to ``/``), so that the pages
work behind a reverse proxy that adds a prefix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from yamlcron.shapes import Times

if TYPE_CHECKING:
    from yamlcron.runs import Run

#: Every run status, in the order the filters offer them.
STATUSES = ("running", "success", "failure", "timeout", "interrupted", "missed", "skipped")
#: Seconds between two refreshes of a page that can change.
REFRESH_SECONDS = 10


def esc(value: object) -> str:
    """``value`` as text that HTML shows as it is (quotes too: safe in attributes)."""
    return escape(str(value), quote=True)


def link(root: str, *parts: str | int, query: Mapping[str, str] | None = None) -> str:
    """A relative address under ``root``: each part quoted whole, so no id can leave it."""
    path = "/".join(quote(str(p), safe="") for p in parts)
    kept = {k: v for k, v in (query or {}).items() if v}
    return esc(root + path + (f"?{urlencode(kept)}" if kept else ""))


@dataclass(frozen=True)
class Moments:
    """How a page shows times: by the daemon's rule (``--utc`` or not), and against now."""

    now: datetime
    times: Times = field(default_factory=Times)

    def text(self, moment: datetime, tz: tzinfo | None = None) -> str:
        """The moment to the second, in ``tz`` (None: this host's zone), as plain text."""
        return self.times.shown(moment, tz, timespec="seconds").replace("T", " ")

    def shown(self, moment: datetime | None, tz: tzinfo | None = None) -> str:
        """A ``<time>`` element for the moment (``—`` for none)."""
        if moment is None:
            return "—"
        iso = self.times.shown(moment, tz, timespec="seconds")
        return f'<time datetime="{esc(iso)}">{esc(self.text(moment, tz))}</time>'

    def relative(self, moment: datetime | None, tz: tzinfo | None = None) -> str:
        """``3 min ago`` or ``in 2 h``, with the exact moment in a tooltip and for machines."""
        if moment is None:
            return "—"
        iso = self.times.shown(moment, tz, timespec="seconds")
        words = span(moment - self.now)
        after = moment > self.now
        text = "just now" if words is None else (f"in {words}" if after else f"{words} ago")
        return f'<time datetime="{esc(iso)}" title="{esc(self.text(moment, tz))}">{text}</time>'

    def both(self, moment: datetime | None, tz: tzinfo | None = None) -> str:
        """The moment, and how far from now: ``2026-11-29 03:00:00+01:00 (in 2 h)``."""
        if moment is None:
            return "—"
        return f"{self.shown(moment, tz)} ({self.relative(moment, tz)})"


def span(delta: timedelta) -> str | None:
    """A duration in its largest fitting unit (``45 s``, ``12 min``, ``3 h``, ``2 d``, ``3 y``)."""
    seconds = abs(delta.total_seconds())
    if seconds < 1:
        return None
    for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def duration(start: datetime | None, end: datetime | None) -> str:
    """How long a run took, to the millisecond below a minute; ``—`` when it did not."""
    if start is None or end is None:
        return "—"
    seconds = (end - start).total_seconds()
    if seconds < 60:
        return f"{seconds:.3f} s"
    return span(end - start) or "—"


def badge(status: str | None) -> str:
    """A run status as a word in a coloured box (the word carries it, not the colour)."""
    if status is None:
        return '<span class="badge">never run</span>'
    return f'<span class="badge s-{esc(status)}">{esc(status)}</span>'


def table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A data table with a caption and column headers; cells are HTML already."""
    head = "".join(f'<th scope="col">{h}</th>' for h in headers)
    body = "".join("<tr>" + "".join(_cell(n, c) for n, c in enumerate(r)) + "</tr>" for r in rows)
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="empty">None.</td></tr>'
    return (
        f'<div class="scroll"><table><caption>{caption}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _cell(n: int, content: str) -> str:
    """The first cell of a row names it: a row header, for screen readers."""
    return f'<th scope="row">{content}</th>' if n == 0 else f"<td>{content}</td>"


def facts(pairs: Iterable[tuple[str, str]]) -> str:
    """A description list of (term, HTML) pairs."""
    items = "".join(f"<div><dt>{esc(term)}</dt><dd>{value}</dd></div>" for term, value in pairs)
    return f'<dl class="facts">{items}</dl>'


def select(name: str, label: str, options: Sequence[tuple[str, str]], chosen: str) -> str:
    """A labelled drop-down of (value, text) pairs with ``chosen`` selected."""
    items = "".join(
        f'<option value="{esc(v)}"{" selected" if v == chosen else ""}>{esc(t)}</option>'
        for v, t in options
    )
    return (
        f'<div class="field"><label for="f-{name}">{esc(label)}</label>'
        f'<select id="f-{name}" name="{name}">{items}</select></div>'
    )


def text_input(name: str, label: str, value: str, hint: str = "") -> str:
    """A labelled search box."""
    return (
        f'<div class="field"><label for="f-{name}">{esc(label)}</label>'
        f'<input id="f-{name}" name="{name}" type="search" value="{esc(value)}"'
        f' placeholder="{esc(hint)}" autocomplete="off"></div>'
    )


@dataclass(frozen=True)
class Frame:
    """What every page shares: where it is, its title, whether it refreshes itself."""

    root: str
    title: str
    refresh: bool = True
    crumbs: tuple[tuple[str, str], ...] = ()  # (address, text): the way back up

    def render(self, body: str, at: Moments) -> bytes:
        """The whole document around ``body`` (the content of ``<main>``)."""
        refresh = f' data-refresh="{REFRESH_SECONDS}"' if self.refresh else ""
        noscript = (
            f'<noscript><meta http-equiv="refresh" content="{REFRESH_SECONDS * 3}"></noscript>'
            if self.refresh
            else ""
        )
        crumbs = "".join(
            f'<li><a href="{href}"{_current(n == len(self.crumbs) - 1)}>{text}</a></li>'
            for n, (href, text) in enumerate(self.crumbs)
        )
        return (
            "<!doctype html>\n"
            f'<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="yamlcron-root" content="{esc(self.root)}">'
            f"<title>{esc(self.title)} · yamlcron</title>{noscript}"
            f'<link rel="stylesheet" href="{esc(self.root)}static/status.css">'
            f'<script src="{esc(self.root)}static/status.js" defer></script></head>'
            f"<body{refresh}>"
            '<a class="skip" href="#main">Skip to content</a>'
            f'<header><a class="brand" href="{esc(self.root) or "./"}">yamlcron</a>'
            f'<nav aria-label="Breadcrumb"><ol>{crumbs}</ol></nav>'
            f'{_TOKEN_PANEL}<p id="action-result" role="status"></p></header>'
            f'<main id="main" tabindex="-1">{body}</main>'
            f"<footer><p>Shown at {at.shown(at.now)}.</p>"
            '<p class="js-only" hidden><label><input type="checkbox" id="auto-refresh"> '
            f"Refresh every {REFRESH_SECONDS} s</label></p></footer>"
            "</body></html>\n"
        ).encode()


def _current(last: bool) -> str:
    """The breadcrumb of the page itself says so to screen readers."""
    return ' aria-current="page"' if last else ""


#: The token for actions, typed once and kept for this tab (sessionStorage); the script
#: shows it, since actions need the script anyway.
_TOKEN_PANEL = (
    '<section class="token js-only" aria-label="Token for actions" hidden>'
    '<form id="token-form"><label for="token">Token for actions</label>'
    '<input id="token" type="password" autocomplete="off" spellcheck="false">'
    '<button type="submit">Use token</button></form>'
    '<p id="token-set" hidden>Actions on (token kept in this tab only). '
    '<button type="button" id="token-forget">Forget token</button></p>'
    "</section>"
)


def pager(previous: str | None, position: str, following: str | None, label: str) -> str:
    """Links to the previous and next page around a ``Page 2 of 9`` (HTML) text."""
    before = f'<a href="{previous}" rel="prev">← Previous</a>' if previous else ""
    after = f'<a href="{following}" rel="next">Next →</a>' if following else ""
    return (
        f'<nav class="pager" aria-label="{esc(label)}">{before}<span>{position}</span>{after}</nav>'
    )


def strip(runs: Sequence[Run], at: Moments, tz: tzinfo | None) -> str:
    """A job's recent outcomes, oldest first: a bar a run, failures tall (not colour alone)."""
    if not runs:
        return '<span class="muted">no runs</span>'
    oldest_first = list(reversed(runs))
    bars = "".join(
        f'<span class="bar s-{esc(r.status)}" title="{esc(r.status)}, '
        f'{esc(at.text(r.scheduled_at, tz))}"></span>'
        for r in oldest_first
    )
    words = ", ".join(f"{n} {status}" for status, n in _streaks(r.status for r in oldest_first))
    return (
        f'<span class="strip" role="img" aria-label="last {len(runs)} runs, oldest first: '
        f'{esc(words)}">{bars}</span>'
    )


def _streaks(statuses: Iterable[str]) -> list[tuple[str, int]]:
    """``a a b a`` as ``[(a, 2), (b, 1), (a, 1)]``: a strip in words."""
    streaks: list[tuple[str, int]] = []
    for status in statuses:
        if streaks and streaks[-1][0] == status:
            streaks[-1] = (status, streaks[-1][1] + 1)
        else:
            streaks.append((status, 1))
    return streaks
