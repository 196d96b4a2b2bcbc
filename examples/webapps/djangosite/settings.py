"""The smallest settings a Django site with yamlcron needs."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["djangosite.apps.CronConfig"]
ROOT_URLCONF = "djangosite.urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# The manifest and the store (None: SQLite beside the manifest).
YAMLCRON_FILE = os.environ.get("YAMLCRON_FILE", str(BASE_DIR / "jobs.yaml"))
YAMLCRON_STORE = os.environ.get("YAMLCRON_STORE")

# yamlcron logs to the "yamlcron" logger: which worker runs the scheduler, which stands by.
LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"yamlcron": {"handlers": ["console"], "level": "INFO"}},
}
