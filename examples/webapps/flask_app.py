"""A Flask app that embeds yamlcron, as a Flask extension: ``gunicorn -w 4 flask_app:app``.

Every worker starts the scheduler; on a SQLite store one of them runs it and the others stand
by, on PostgreSQL all of them share the work. Each fire runs once either way. With gunicorn's
``--preload`` the app is built in the master before the workers fork: start the scheduler in
each worker instead, from a ``post_fork`` hook (gunicorn_preload.py, docs/deploying.md).
"""

from __future__ import annotations

import atexit
import logging
import os

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

from yamlcron import Yamlcron


class FlaskYamlcron:
    """The extension: ``FlaskYamlcron(app)``, or ``FlaskYamlcron()`` then ``.init_app(app)``.

    Settings: ``YAMLCRON_FILE`` (the manifest), ``YAMLCRON_STORE`` (a store URL; default
    SQLite beside the manifest), ``YAMLCRON_START`` (False to build without starting, as a
    ``--preload`` master or a test client wants).
    """

    def __init__(self, app: Flask | None = None) -> None:
        self.cron: Yamlcron | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        self.cron = Yamlcron(app.config["YAMLCRON_FILE"], store=app.config.get("YAMLCRON_STORE"))
        app.extensions["yamlcron"] = self
        if app.config.get("YAMLCRON_START", True):
            self.start()

    def start(self) -> None:
        assert self.cron is not None
        self.cron.start()
        # Flask has no shutdown hook: the worker's interpreter exit is where runs are waited for.
        atexit.register(self.cron.stop)


def create_app() -> Flask:
    # yamlcron logs to the "yamlcron" logger: which worker runs the scheduler, which stands by.
    logging.basicConfig(level=logging.INFO, format="%(process)d %(name)s: %(message)s")
    app = Flask(__name__)
    here = os.path.dirname(os.path.abspath(__file__))
    app.config["YAMLCRON_FILE"] = os.environ.get("YAMLCRON_FILE", os.path.join(here, "jobs.yaml"))
    app.config["YAMLCRON_STORE"] = os.environ.get("YAMLCRON_STORE")
    # "0" under gunicorn --preload: each worker starts it after the fork (gunicorn_preload.py).
    app.config["YAMLCRON_START"] = os.environ.get("YAMLCRON_START", "1") != "0"
    cron = FlaskYamlcron(app)

    @app.get("/yamlcron")
    def status() -> ResponseReturnValue:
        assert cron.cron is not None
        return jsonify(pid=os.getpid(), standing_by=cron.cron.standing_by)

    return app


app = create_app()
