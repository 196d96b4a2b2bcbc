"""The WSGI entry point: this process serves the site, so it runs yamlcron (see apps.py)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangosite.settings")
os.environ.setdefault("YAMLCRON_EMBEDDED", "1")
application = get_wsgi_application()
