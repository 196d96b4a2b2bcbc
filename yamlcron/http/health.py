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
    from yamlcron.http.loop import Loop


def livez(loop: Loop) -> Response:
    """200 while the scheduler loop rests or is in a young pass; 503 when stopped or stuck."""
    dead = loop.fresh().dead
    if not dead:
        return json_response(200, {"alive": True})
    return json_response(503, {"alive": False, "reason": dead})


def readyz(loop: Loop, reads: Yamlcron) -> Response:
    """200 when the store answers, this replica holds its lease and a manifest is applied.

    The store is asked through ``reads`` (connections of its own), about ``loop``.
    """
    reason = not_ready(loop, reads)
    if reason is None:
        return json_response(200, {"ready": True})
    return json_response(503, {"ready": False, "reason": reason})


def not_ready(loop: Loop, reads: Yamlcron) -> str | None:
    """Why this replica should not get traffic, or None."""
    state = loop.fresh()
    if state.stopping:
        return "the scheduler is stopping"
    if state.dead:
        return state.dead
    try:
        record = reads.applied()
        live = reads.replicas()
    except StoreError as exc:
        return f"the store is unreachable: {exc}"
    except YamlcronError as exc:
        return str(exc)
    if record is None or not state.applied:
        return "no manifest is applied yet"
    node = reads.config.node
    if not any(replica.node == node for replica in live):
        return f"this replica ({node}) holds no lease on the store"
    return None
