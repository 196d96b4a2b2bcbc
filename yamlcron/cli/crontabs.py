"""``yamlcron import-crontab``: a crontab in, a manifest out (``yamlcron.crontab``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from yamlcron.errors import YamlcronError


@click.command("import-crontab")
@click.argument("crontab", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="The zone the crontab's schedules are read in (cron uses the host's), "
    "until a CRON_TZ line says otherwise.",
)
def import_crontab(crontab: Path, timezone: str) -> None:
    """Print the manifest for a crontab ("-": standard input), for `plan` and `apply`.

    Environment lines, SHELL and CRON_TZ carry over; MAILTO is dropped with a note; a
    % in a command starts its standard input, as in cron. @reboot entries and
    expressions yamlcron reads differently are refused with their line.

    \b
    Example:
      yamlcron import-crontab old.crontab --timezone Europe/Berlin > jobs.yaml
      crontab -l | yamlcron import-crontab - > jobs.yaml && yamlcron plan
    """
    from yamlcron.crontab import import_crontab as convert

    try:
        text = sys.stdin.read() if str(crontab) == "-" else crontab.read_text()
    except OSError as exc:
        raise YamlcronError(f"cannot read {crontab}: {exc.strerror}") from None
    imported = convert(text, "-" if str(crontab) == "-" else str(crontab), timezone)
    for note in imported.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(imported.manifest, nl=False)
