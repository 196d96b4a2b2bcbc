"""gunicorn settings for a preloaded app: ``gunicorn -c gunicorn_preload.py flask_app:app``.

``--preload`` imports the app once in the master, and the workers fork from it. A scheduler
started there would run in the master, its threads would not survive the fork, and forking
a process with threads risks deadlocks in the child. So the app is built without starting
yamlcron, and each worker starts it after the fork, named after the worker's own pid.
"""

from __future__ import annotations

import os
from typing import Any

os.environ["YAMLCRON_START"] = "0"
preload_app = True
workers = 4
bind = "127.0.0.1:0"


def post_fork(server: Any, worker: Any) -> None:
    from flask_app import app

    app.extensions["yamlcron"].start()
