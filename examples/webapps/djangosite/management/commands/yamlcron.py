"""``manage.py yamlcron ARGS...``: the yamlcron command line on the site's settings.

``manage.py yamlcron plan``, ``... apply``, ``... history tick`` or ``... run`` (a scheduler
of its own, for a site that does not embed one) use the manifest and store of settings.py.
"""

from __future__ import annotations

from argparse import REMAINDER, ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from yamlcron.cli import main


class Command(BaseCommand):
    help = "Run a yamlcron command on this site's manifest and store."

    def add_arguments(self, parser: ArgumentParser) -> None:
        # Everything after ``yamlcron`` is yamlcron's, options included.
        parser.add_argument("args", nargs=REMAINDER, metavar="COMMAND [ARGS...]")

    def handle(self, *args: str, **options: Any) -> None:
        if not args:
            raise CommandError("name a yamlcron command: plan, apply, run, jobs, history...")
        command, *rest = args
        where = ["-f", settings.YAMLCRON_FILE]
        if settings.YAMLCRON_STORE:
            where += ["--store", settings.YAMLCRON_STORE]
        code = main([command, *where, *rest])
        if code:
            raise CommandError(f"yamlcron {command} exited {code}", returncode=code)
