"""The status page's HTML, from ``page()`` on a real service over a real SQLite store.

Runs are real (triggered here and now, through the executors); the clock is a fake one
that each run moves on, so that relative times ("in 3 h") are known. The browser tests
(tests/test_browser.py) drive the same pages in Chromium through a real daemon.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from yamlcron.app import Yamlcron
from yamlcron.http.options import HttpOptions
from yamlcron.http.pages import page
from yamlcron.registry import build_registry
from yamlcron.shapes import Times

START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)  # 11:00 in Berlin

MANIFEST = """\
version: 1
defaults:
  timezone: Europe/Berlin
jobs:
  backup:
    description: "Dump <every> database & keep it"
    trigger: {cron: "0 14 * * *"}
    run: {call: "page_tasks:backup"}
    tags: [nightly, db]
  broken:
    trigger: {interval: 1h}
    run: {call: "page_tasks:broken"}
  loud:
    trigger: {interval: 15m}
    run: {shell: "echo '<script>alert(1)</script> & more'"}
    tags: [noisy]
  sleepy:
    trigger: {date: "2031-12-01T09:00:00+01:00"}
    run: {command: ["true"]}
    paused: true
"""

TASKS = """\
def backup():
    print("dumped 3 databases")
    return {"rows": 3, "note": "<b>bold</b>"}

def broken():
    raise ValueError("bad <input> & worse")
"""


class Clock:
    """A fake clock: each call answers the same moment until ``tick`` moves it on."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def tick(self, minutes: int = 1) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(tmp_path: Path, clock: Clock) -> Iterator[Yamlcron]:
    """The service over a fresh SQLite store with MANIFEST applied."""
    (tmp_path / "jobs.yaml").write_text(MANIFEST)
    (tmp_path / "page_tasks.py").write_text(TASKS)  # a name of its own: modules stay imported
    with Yamlcron(
        tmp_path / "jobs.yaml", registry=build_registry(autoload=False), clock=clock
    ) as service:
        service.apply()
        yield service


def run(app: Yamlcron, clock: Clock, job_id: str) -> int:
    """Run ``job_id`` now (really), a minute after the last run, as ``yamlcron trigger``
    does (a service of its own, which takes the store's daemon lock while it runs)."""
    clock.tick()
    with Yamlcron(app.path, registry=build_registry(autoload=False), clock=clock) as one:
        return one.trigger(job_id).result(timeout=60).id


#: Elements whose text reads apart from their neighbours'.
BLOCKS = frozenset(
    ("p", "div", "dt", "dd", "li", "td", "th", "tr", "h1", "h2", "h3", "pre", "section", "nav")
)


class Tables(HTMLParser):
    """The text of each table's body rows, cell by cell, and the page's whole text."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.text: list[str] = []
        self._in_body = False
        self.feed(body.decode())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS:
            self.text.append(" ")
        if tag == "table":
            self.tables.append([])
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self._in_body:
            self.tables[-1][-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCKS:
            self.text.append(" ")
        if tag == "tbody":
            self._in_body = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_body and self.tables and self.tables[-1] and self.tables[-1][-1]:
            self.tables[-1][-1][-1] += data

    @property
    def words(self) -> str:
        return " ".join("".join(self.text).split())


def here(moment: datetime) -> str:
    """``moment`` as a page shows a time of no job: in this host's zone."""
    return moment.astimezone().isoformat(sep=" ", timespec="seconds")


def get(app: Yamlcron, path: str, **query: str) -> tuple[int, Tables, bytes]:
    answer = page(app, path, query)
    assert answer is not None, path
    status, kind, body = answer
    assert kind == "text/html; charset=utf-8"
    return status, Tables(body), body


def test_front_page_shows_each_job_in_words_with_its_recent_outcomes(
    app: Yamlcron, clock: Clock
) -> None:
    for job_id in ("backup", "broken", "backup", "broken", "backup"):
        run(app, clock, job_id)

    status, html, body = get(app, "/")

    assert status == 200
    jobs = {row[0]: row for row in html.tables[0]}
    assert list(jobs) == ["backup", "broken", "loud", "sleepy"]
    _, trigger, next_run, last, when, paused, _ = jobs["backup"]
    assert trigger == "cron 0 14 * * * (Europe/Berlin)"
    assert next_run == "in 2 h"  # 14:00 in Berlin, from 11:05 (whole units, rounded down)
    assert (last, when, paused) == ("success", "just now", "no")
    assert jobs["broken"][3:6] == ["failure", "1 min ago", "no"]
    assert jobs["sleepy"][2:6] == ["—", "never run", "—", "paused"]
    # The strip: one bar a run, oldest first, and the same in words for screen readers.
    assert body.count(b'class="bar s-success"') == 3
    assert b'aria-label="last 2 runs, oldest first: 2 failure"' in body
    assert "4 jobs in the store; 1 failing" in html.words


def test_front_page_pages_and_filters_by_id_tag_and_status(app: Yamlcron, clock: Clock) -> None:
    run(app, clock, "broken")

    def ids(**query: str) -> list[str]:
        status, html, _ = get(app, "/", **query)
        assert status == 200
        return [row[0] for row in html.tables[0] if len(row) > 1]

    assert ids(per="3") == ["backup", "broken", "loud"]
    assert ids(per="3", page="2") == ["sleepy"]
    assert ids(per="3", page="9") == ["sleepy"]  # past the end: the last page
    assert ids(q="O") == ["broken", "loud"]  # any case
    assert ids(tag="nightly") == ["backup"]
    assert ids(status="paused") == ["sleepy"]
    assert ids(status="failing") == ["broken"]
    assert ids(status="never") == ["backup", "loud", "sleepy"]
    assert ids(status="failure", q="bro") == ["broken"]
    assert ids(q="nothing-like-it") == []
    _, html, body = get(app, "/", per="3", page="2", q="")
    assert "Page 2 of 2" in html.words
    assert b'href="./?page=1&amp;per=3" rel="prev"' in body  # the filter is kept, escaped


def test_job_page_pages_its_runs_and_filters_them(app: Yamlcron, clock: Clock) -> None:
    order = ["backup", "broken"] * 3 + ["backup"]
    ran = [run(app, clock, job) for job in order]
    backups = [r for r, job in zip(ran, order, strict=True) if job == "backup"]

    status, html, body = get(app, "/jobs/backup", per="3")

    assert status == 200
    assert [row[0] for row in html.tables[0]] == [f"#{r}" for r in reversed(backups[1:])]
    assert "Dump <every> database & keep it" in html.words  # escaped, and shown as written
    assert b"Dump &lt;every&gt; database &amp; keep it" in body
    assert "Tags nightly, db" in html.words
    assert f'href="../jobs/backup?before={backups[1]}&amp;per=3" rel="next"'.encode() in body
    _, html, _ = get(app, "/jobs/backup", per="3", before=str(backups[1]))
    assert [row[0] for row in html.tables[0]] == [f"#{backups[0]}"]
    _, html, _ = get(app, "/jobs/broken", status="success")
    assert html.tables[0] == [["None."]]
    _, html, _ = get(app, "/jobs/broken", status="failure")
    assert len(html.tables[0]) == 3


def test_run_page_shows_the_error_traceback_result_and_output_escaped(
    app: Yamlcron, clock: Clock
) -> None:
    failed = run(app, clock, "broken")
    loud = run(app, clock, "loud")
    backup = run(app, clock, "backup")

    status, html, body = get(app, f"/runs/{failed}")
    assert status == 200
    assert "ValueError: bad <input> & worse" in html.words
    assert "Traceback (most recent call last)" in html.words
    assert 'raise ValueError("bad <input> & worse")' in "".join(html.text)
    assert b"bad <input>" not in body

    _, html, body = get(app, f"/runs/{loud}")
    assert "<script>alert(1)</script> & more" in "".join(html.text)
    assert b"<script>alert" not in body
    assert b"&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in body

    _, html, body = get(app, f"/runs/{backup}")
    assert "dumped 3 databases" in html.words
    assert '"note": "<b>bold</b>"' in "".join(html.text)
    assert b"<b>bold" not in body


def test_times_follow_the_daemons_rule(app: Yamlcron, clock: Clock) -> None:
    ran = run(app, clock, "backup")
    _, html, _ = get(app, f"/runs/{ran}")
    assert "Scheduled 2026-11-29 11:01:00+01:00" in html.words  # the job's zone

    app.http_options = HttpOptions("127.0.0.1", 0, times=Times(utc=True))  # yamlcron --utc run
    _, html, _ = get(app, f"/runs/{ran}")
    assert "Scheduled 2026-11-29 10:01:00+00:00" in html.words


def test_front_page_shows_the_applied_manifest_and_the_last_reload_error(
    app: Yamlcron, clock: Clock, tmp_path: Path
) -> None:
    _, html, _ = get(app, "/")
    applied = app.applied()
    assert applied is not None
    assert f"Digest {applied.digest}" in html.words
    assert "The last reload succeeded" in html.words

    clock.tick(5)
    (tmp_path / "jobs.yaml").write_text(MANIFEST.replace("{interval: 1h}", "{interval: <1h>}"))
    assert app.reload() is False

    _, html, body = get(app, "/")
    assert "The last reload failed" in html.words
    assert f"At {here(clock.now)} (just now)" in html.words
    assert "jobs.yaml:11:25: jobs.broken.trigger.interval: '<1h>' is not a duration" in html.words
    assert b"&#x27;&lt;1h&gt;&#x27; is not a duration" in body


@pytest.mark.parametrize(
    ("path", "query", "status", "says"),
    [
        ("/jobs/nope", {}, 404, "no job 'nope' in the store"),
        ("/jobs/..", {}, 404, "no job '..'"),
        ("/runs/999", {}, 404, "no run 999"),
        ("/runs/x1", {}, 404, "a run id is a whole number"),
        ("/", {"page": "0"}, 400, "page: must be a whole number from 1, got '0'"),
        ("/", {"per": "many"}, 400, "per: must be a whole number"),
        ("/", {"status": "<bad>"}, 400, "status: must be one of"),
        ("/jobs/backup", {"before": "-1"}, 400, "before: must be a whole number"),
    ],
)
def test_a_bad_address_is_a_page_that_says_what_and_where(
    app: Yamlcron, path: str, query: dict[str, str], status: int, says: str
) -> None:
    got, html, body = get(app, path, **query)
    assert got == status
    assert says in html.words
    assert b"<bad>" not in body


def test_only_the_pages_and_their_two_static_files_are_answered(app: Yamlcron) -> None:
    for path in ("/static/status.css", "/static/status.js"):
        answer = page(app, path, {})
        assert answer is not None
        assert answer[0] == 200
        assert len(answer[2]) > 1000
    for path in ("/nope", "/jobs", "/jobs/", "/jobs/a/b", "/static/../pages.py", "/static/"):
        assert page(app, path, {}) is None, path


def test_a_store_with_nothing_applied_is_a_503_page(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(MANIFEST)
    with Yamlcron(
        tmp_path / "jobs.yaml", registry=build_registry(autoload=False), create=False
    ) as service:
        status, html, _ = get(service, "/")
    assert status == 503
    assert "The store cannot be read" in html.words
    assert "yamlcron apply" in html.words


def test_pages_name_their_parts_for_assistive_technology(app: Yamlcron, clock: Clock) -> None:
    failed = run(app, clock, "broken")
    for path in ("/", "/jobs/broken", f"/runs/{failed}"):
        _, _, body = get(app, path)
        text = body.decode()
        assert '<html lang="en">' in text
        assert text.count("<main") == 1
        assert "<header>" in text
        assert "<footer>" in text
        assert '<a class="skip" href="#main">' in text
        assert "<h1>" in text
        # Every form control has a label that names it.
        for control in ("f-q", "f-tag", "f-status", "token"):
            if f'id="{control}"' in text:
                assert f'for="{control}"' in text, (path, control)
        for table in text.split("<table>")[1:]:
            assert table.startswith("<caption>")
            assert '<th scope="col">' in table


def test_a_removed_jobs_run_still_has_its_page(app: Yamlcron, clock: Clock, tmp_path: Path) -> None:
    ran = run(app, clock, "loud")
    without_loud = MANIFEST.replace(
        MANIFEST[MANIFEST.index("  loud:") : MANIFEST.index("  sleepy:")], ""
    )
    (tmp_path / "jobs.yaml").write_text(without_loud)
    app.apply()

    status, html, body = get(app, f"/runs/{ran}")

    assert status == 200
    assert "Job loud (removed from the manifest; its history is kept)" in html.words
    assert b'href="../jobs/loud"' not in body
    assert f"Scheduled {here(START + timedelta(minutes=1))}" in html.words  # this host's zone


def _luminance(colour: str) -> float:
    """WCAG 2's relative luminance of ``#rrggbb``."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(text: str, ground: str) -> float:
    light, dark = sorted((_luminance(text), _luminance(ground)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_every_text_colour_of_the_style_sheet_has_a_contrast_of_4_5_or_more() -> None:
    import re

    from yamlcron.http.pages import _asset

    css = _asset("status.css").decode()
    variables = dict(re.findall(r"--([a-z]+): (#[0-9a-f]{6});", css))
    # Each rule that sets a text colour and a ground of its own: a badge, the header, a button.
    value = r"(#[0-9a-f]{6}|var\(--[a-z]+\))"

    def resolved(text: str) -> str:
        return variables[text[6:-1]] if text.startswith("var(") else text

    pairs = [
        (m["selector"].strip(), resolved(m["colour"]), resolved(m["ground"]))
        for m in re.finditer(
            rf"(?P<selector>[^{{}}]+)\{{[^}}]*?(?<![-\w])background: (?P<ground>{value});"
            rf"[^}}]*?(?<![-\w])color: (?P<colour>{value});",
            css,
        )
    ]
    pairs += [
        ("body text", variables["text"], variables["ground"]),
        ("muted text", variables["muted"], variables["ground"]),
        ("links", variables["accent"], variables["ground"]),
        ("muted text on table heads", variables["muted"], variables["soft"]),
    ]
    assert len(pairs) > 10
    low = {name: round(contrast(fg, bg), 2) for name, fg, bg in pairs if contrast(fg, bg) < 4.5}
    assert low == {}
