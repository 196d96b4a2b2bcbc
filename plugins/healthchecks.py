"""The ``healthchecks`` notifier: ping healthchecks.io, or a self-hosted twin, about runs.

A dead man's switch per job: the check alerts when the pings stop coming, so it notices a
job that stopped running at all, which no notifier of failures can::

    notify:
      - via: healthchecks
        url: "https://hc-ping.com/${HC_PING_KEY}/nightly-backup"
        on: [started, success, failure, missed]

Which event pings what (each one only when its word is in the entry's ``on``):

==========================================  ===========  =====================================
event                                       ping         why
==========================================  ===========  =====================================
``started``                                 ``/start``   the check measures the run's duration
``success``                                 the URL      the run succeeded
``failure``, ``timeout``, ``interrupted``   ``/fail``    a final failure (after the retries)
``missed``                                  ``/fail``    the job did not run when it should
                                                         have: what the check is there for
``retry``                                   ``/log``     an attempt failed and another comes;
                                                         the check's status stays as it is
``skipped``                                 ``/log``     a run was still under way
                                                         (``max_instances``): it pings itself
``applied`` (top-level entries)             the URL      the manifest was applied
``reload_failed``, ``plan_refused``         ``/fail``    the running manifest was kept
==========================================  ===========  =====================================

Each ping of a run carries ``rid``, a UUID derived from the run (``run_uuid``), so that the
check pairs a start with its end even when runs overlap. The body is the run's facts and
the tail of its output, at most 10 KB (healthchecks keeps the first 100 KB of a body).
A run's ``/start`` is sent before its end ping, though the notification threads race.

The URL holds the check's secret (its UUID, or the project's ping key): ``${VAR}`` is
expanded just before each ping, and logs name only its scheme and host. A ping is given a
short ``timeout`` (5 s) and ``retries`` (2); one that still fails is logged and counted as
a failed delivery, and nothing else waits for it.
"""

from __future__ import annotations

import threading
import urllib.parse
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from yamlcron.durations import parse_duration
from yamlcron.errors import DeliveryError
from yamlcron.events import ManifestEvent, RunEvent
from yamlcron.hookspecs import hookimpl
from yamlcron.interfaces import Notifier
from yamlcron.message import compose, facts, last_bytes
from yamlcron.outbound import send
from yamlcron.runs import Run

#: A ping's body at most: its end is kept (healthchecks stores the first 100 KB).
BODY_LIMIT = 10_000
#: The namespace of the run UUIDs (``rid``): a fixed value, so a run's UUID never changes.
RUN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://yamlcron.invalid/runs")
#: The ping each run event sends: a path after the URL, "" for the URL itself.
_RUN_PINGS = {
    "started": "start",
    "succeeded": "",
    "failed": "fail",
    "interrupted": "fail",
    "missed": "fail",
    "retried": "log",
    "skipped": "log",
}
_MANIFEST_PINGS = {"applied": "", "reload_failed": "fail", "plan_refused": "fail"}


def run_uuid(run: Run) -> str:
    """The run's ``rid``: a UUID derived from its job, id, scheduled time and attempt."""
    name = f"{run.job_id}\n{run.id}\n{run.scheduled_at.isoformat()}\n{run.attempt}"
    return str(uuid.uuid5(RUN_NAMESPACE, name))


def ping_url(url: str, ping: str, rid: str | None) -> str:
    """``url`` with ``/ping`` added to its path and ``rid`` to its query."""
    parts = urllib.parse.urlsplit(url)
    path = f"{parts.path.rstrip('/')}/{ping}" if ping else parts.path
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if rid is not None:
        query.append(("rid", rid))
    return urllib.parse.urlunsplit(parts._replace(path=path, query=urllib.parse.urlencode(query)))


class HealthchecksNotifier:
    """Pings a check's URL: ``/start``, success, ``/fail`` or ``/log`` (see the module)."""

    options_schema: Mapping[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "url": {
                "type": "string",
                "pattern": "^https?://",
                "description": "The check's ping URL (https://hc-ping.com/UUID, or "
                "https://hc-ping.com/PING_KEY/SLUG); ${VAR} for its secret.",
            },
            "timeout": {
                "type": ["integer", "string"],
                "description": "Per try: a duration such as 5s (default).",
            },
            "retries": {
                "type": "integer",
                "minimum": 0,
                "maximum": 5,
                "description": "Tries after the first one failed (default 2).",
            },
            "link": {
                "type": "string",
                "pattern": "^https?://",
                "description": "The status page's public URL: the body links the run's page.",
            },
        },
    }

    def __init__(self) -> None:
        self._order = _StartFirst()

    def notify(self, event: RunEvent | ManifestEvent, options: Mapping[str, Any]) -> None:
        if isinstance(event, ManifestEvent):
            self._ping(options, _MANIFEST_PINGS[event.kind], None, compose(event).body)
            return
        ping = _RUN_PINGS.get(event.kind)
        if ping is None:  # submitted: no word of ``on`` names it
            return
        rid = run_uuid(event.run)
        key = (str(options["url"]), rid)
        if ping == "start":
            with self._order.start(key) as first:
                if first:
                    self._ping(options, ping, rid, _body(event, options.get("link")))
            return
        self._order.ending(key)
        self._ping(options, ping, rid, _body(event, options.get("link")))

    def _ping(self, options: Mapping[str, Any], ping: str, rid: str | None, body: str) -> None:
        url = str(options["url"])
        try:
            send(
                ping_url(url, ping, rid),
                body.encode(),
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=parse_duration(options.get("timeout", "5s")),
                retries=int(options.get("retries", 2)),
            )
        except DeliveryError as exc:
            raise DeliveryError(f"healthchecks ping /{ping or 'success'}: {exc}") from None


def _body(event: RunEvent, link: str | None) -> str:
    """The run's facts, then as much of the end of its output as fits in ``BODY_LIMIT``."""
    head = "\n".join(facts(event, link))
    room = BODY_LIMIT - len(head.encode()) - 2
    output = last_bytes(event.run.output, room)
    return f"{head}\n\n{output}" if output else head


class _StartFirst:
    """A run's start ping goes before its end ping, though the bus sends them from a pool.

    An end ping waits for its run's start ping under way; a start ping that comes after its
    run's end was sent is dropped (the check would take the run as started again).
    """

    #: Ends remembered, to drop a start that comes after them; the oldest are forgotten.
    REMEMBERED = 4096
    #: How long an end ping waits for its start ping (a start ping's tries fit in it).
    WAIT = 60.0

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._starting: set[tuple[str, str]] = set()
        self._ended: OrderedDict[tuple[str, str], None] = OrderedDict()

    @contextmanager
    def start(self, key: tuple[str, str]) -> Iterator[bool]:
        """Yields whether the start ping is to be sent (its end was not sent before it)."""
        with self._changed:
            first = key not in self._ended
            if first:
                self._starting.add(key)
        try:
            yield first
        finally:
            with self._changed:
                self._starting.discard(key)
                self._changed.notify_all()

    def ending(self, key: tuple[str, str]) -> None:
        """Wait for the run's start ping under way, if any; from now on its start is late."""
        with self._changed:
            self._changed.wait_for(lambda: key not in self._starting, self.WAIT)
            self._ended[key] = None
            if len(self._ended) > self.REMEMBERED:
                self._ended.popitem(last=False)


@hookimpl
def yamlcron_notifiers() -> Mapping[str, Notifier]:
    return {"healthchecks": HealthchecksNotifier()}
