"""How a scheduler is set up: plain values, light to import (the CLI shows the defaults)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

#: Default lease time: a replica that misses renewing for this long is taken over.
DEFAULT_TTL = 30.0


def default_node() -> str:
    """This process's name in run records: host and pid."""
    import socket  # here: the CLI imports this module for its defaults, and --help is hot

    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerConfig:
    """The settings of one scheduler.

    ``workers``: runs under way at once, over all jobs. ``kill_grace``: seconds between
    SIGTERM and SIGKILL when a run is stopped. ``lease_ttl``: how long the scheduler may go
    without renewing its lease before other replicas take its runs over. ``node``: its name
    in run records. ``freeze_gc``: ``run_forever`` freezes the process's long-lived objects
    out of the cyclic collector (``yamlcron.scheduler.gcfreeze``), for a process of its own
    such as ``yamlcron run``.
    """

    workers: int = 32
    kill_grace: float = 10.0
    lease_ttl: float = DEFAULT_TTL
    node: str = field(default_factory=default_node)
    freeze_gc: bool = False
