"""One page: which worker answered, and whether its scheduler stands by."""

from __future__ import annotations

import os

from django.http import HttpRequest, JsonResponse
from django.urls import path

from djangosite.apps import CronConfig


def status(request: HttpRequest) -> JsonResponse:
    cron = CronConfig.cron
    return JsonResponse({"pid": os.getpid(), "standing_by": cron is not None and cron.standing_by})


urlpatterns = [path("yamlcron", status)]
