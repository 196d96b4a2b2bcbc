"""``/livez`` and ``/readyz``: what an orchestrator asks before it restarts or routes.

Liveness is the loop's own pulse and reads no store: a PostgreSQL failover must not
restart every replica at once. Readiness asks the store, so an outage shows there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from yamlcron.errors import StoreError, YamlcronError
from yamlcron.http.web import Response, json_response

if TYPE_CHECKING:
    from yamlcron.app import Yamlcron

#: A pass longer than this means the loop is stuck. Passes take milliseconds; a store that
#: cannot answer fails a pass within its connect timeout, and the loop rests after it.
STUCK_AFTER = 60.0


def livez(app: Yamlcron) -> Response:
    """200 while the scheduler loop rests or is in a young pass; 503 when stopped or stuck."""
    pulse = app.scheduler.pulse
    if pulse.alive(STUCK_AFTER):
        return json_response(200, {"alive": True})
    if pulse.stopped:
        reason = "the scheduler loop has stopped"
    else:
        reason = f"the scheduler loop has been in one pass for {pulse.stuck_for():.0f} s"
    return json_response(503, {"alive": False, "reason": reason})


def readyz(app: Yamlcron, reads: Yamlcron) -> Response:
    """200 when the store answers, this replica holds its lease and a manifest is applied.

    The store is asked through ``reads`` (connections of its own), about ``app``'s loop.
    """
    reason = not_ready(app, reads)
    if reason is None:
        return json_response(200, {"ready": True})
    return json_response(503, {"ready": False, "reason": reason})


def not_ready(app: Yamlcron, reads: Yamlcron) -> str | None:
    """Why this replica should not get traffic, or None."""
    if app.scheduler.pulse.stopped:
        return "the scheduler is stopping"
    try:
        record = reads.applied()
        live = reads.replicas()
    except StoreError as exc:
        return f"the store is unreachable: {exc}"
    except YamlcronError as exc:
        return str(exc)
    if record is None or app.scheduler.source is None:
        return "no manifest is applied yet"
    if not any(replica.node == app.config.node for replica in live):
        return f"this replica ({app.config.node}) holds no lease on the store"
    return None
