"""Starting yamlcron in ``AppConfig.ready()``, in the processes that serve the site only."""

from __future__ import annotations

import atexit
import os

from django.apps import AppConfig
from django.conf import settings

from yamlcron import Yamlcron


class CronConfig(AppConfig):
    name = "djangosite"
    cron: Yamlcron | None = None

    def ready(self) -> None:
        # ready() runs in every process that sets Django up, ``manage.py migrate`` too: the
        # WSGI/ASGI entry point says when this process serves the site and should schedule.
        if os.environ.get("YAMLCRON_EMBEDDED") != "1":
            return
        CronConfig.cron = Yamlcron(settings.YAMLCRON_FILE, store=settings.YAMLCRON_STORE)
        CronConfig.cron.start()
        atexit.register(CronConfig.cron.stop)
