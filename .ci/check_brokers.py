"""CI: fail (do not skip the Celery tests) when Redis or RabbitMQ is unreachable."""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit

for name in ("YAMLCRON_TEST_REDIS_URL", "YAMLCRON_TEST_AMQP_URL"):
    url = os.environ[name]
    parts = urlsplit(url)
    default = 6379 if parts.scheme.startswith("redis") else 5672
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default), 5).close()
    except OSError as exc:
        sys.exit(f"ci: {name} ({parts.hostname}:{parts.port or default}) is unreachable: {exc}")
