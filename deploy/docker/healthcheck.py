"""The container's HEALTHCHECK: healthy while ``GET /livez`` answers 200.

It asks the address in ``YAMLCRON_HTTP`` (``yamlcron run --http``); with the HTTP server
turned off (the variable empty) there is nothing to ask, and the container counts as healthy
while its process runs. Standard library only: the image has nothing else to spare.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    address = os.environ.get("YAMLCRON_HTTP", "")
    if not address:
        return 0
    host, _, port = address.rpartition(":")
    # A server on every interface answers on the loopback too.
    host = "127.0.0.1" if host in ("", "0.0.0.0", "[::]", "::") else host
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/livez", timeout=5) as answer:
            return 0 if answer.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"yamlcron is not live: {exc}\n")  # docker inspect shows it
        return 1


if __name__ == "__main__":
    sys.exit(main())
