"""CI: fail (do not skip the PostgreSQL tests) when the configured server is unreachable."""

from __future__ import annotations

import os
import sys

import psycopg

url = os.environ["YAMLCRON_TEST_POSTGRES_URL"]
try:
    psycopg.connect(url, connect_timeout=5).close()
except psycopg.Error as exc:
    sys.exit(f"ci: PostgreSQL at {url} is unreachable: {' '.join(str(exc).split())}")
