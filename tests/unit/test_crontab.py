"""``yamlcron import-crontab``: a real-world crontab becomes a manifest that ``plan`` accepts,
whose every job fires when cronsim says the original line fires; what cron does that
yamlcron cannot is refused with its line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from cronsim import CronSim

from tests.conftest import CliResult
from yamlcron import Yamlcron
from yamlcron.cronexpr import ALIASES
from yamlcron.crontab import import_crontab
from yamlcron.errors import ManifestError
from yamlcron.registry import build_registry

CRONTAB = r"""# m h  dom mon dow   command
SHELL=/bin/bash
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
MAILTO="ops@example.com"
BACKUP_DIR='/var/backups/${HOST}'

# Rotate the application logs
0 0 * * * /usr/sbin/logrotate /etc/logrotate.conf
# Nightly database dump
30 2 * * * pg_dump -Fc app > "$BACKUP_DIR/app-$(date +\%F).dump"
*/5 * * * * /opt/app/bin/healthcheck.sh >/dev/null 2>&1
*/15 9-17 * * 1-5 /opt/app/bin/sync-crm --quiet
0 */4 * * * /opt/app/bin/sync-crm --full
15 14 1 * * /usr/local/bin/monthly-report
0 22 * * 1-5 /usr/local/bin/backup.sh
5 4 * * sun /usr/local/bin/backup.sh --weekly
0 0 1,15 * * /usr/local/bin/invoice-run
@hourly /usr/bin/find /tmp -type f -mtime +2 -delete
@daily /usr/local/bin/certbot-renew
@weekly /usr/local/bin/purge-sessions
0 8-18/2 * * mon-fri /usr/local/bin/poll-inbox
23 0-23/2 * * * echo "run every other hour"
0 12 * jan,jul * /usr/local/bin/semiannual-audit
0 6 13 * fri /usr/local/bin/friday-13th
@monthly /usr/local/bin/rotate-keys
mail -s "disk report" ops@example.com%Disk report follows:%done
CRON_TZ=America/New_York
0 9 * * 1-5 /usr/local/bin/standup-reminder
45 23 L * * /usr/local/bin/month-end
@yearly /usr/local/bin/happy-new-year
"""


def _entries(text: str) -> list[tuple[int, str, str]]:
    """(line, expression, zone) of each schedule in the crontab, read independently."""
    zone, found = "UTC", []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("CRON_TZ="):
            zone = line.split("=", 1)[1]
        elif line and (line[0].isdigit() or line[0] in "*@"):
            words = line.split()
            expr = ALIASES[words[0]] if words[0].startswith("@") else " ".join(words[:5])
            found.append((number, expr, zone))
    return found


def test_every_entry_fires_when_cron_would(tmp_path: Path) -> None:
    crontab = CRONTAB.replace("mail -s", "0 7 * * * mail -s").replace("45 23 L", "45 23 28")
    imported = import_crontab(crontab, "crontab", "UTC")
    cron = Yamlcron.from_text(imported.manifest, tmp_path, registry=build_registry(autoload=False))
    manifest = cron.load()  # the validation plan and apply do
    jobs = list(manifest.jobs)
    entries = _entries(crontab)
    assert len(jobs) == len(entries) == 21
    after = datetime(2026, 5, 11, 10, 7, tzinfo=ZoneInfo("UTC"))
    for job_id, (line, expr, zone) in zip(jobs, entries, strict=True):
        ours = cron.next_fires(job_id, count=5, after=after).times
        theirs = CronSim(expr, after.astimezone(ZoneInfo(zone)))
        expected = [next(theirs) for _ in range(5)]
        assert list(ours) == expected, f"line {line}: {expr} ({zone}) as {job_id}"


def test_environment_shell_zone_and_percent_carry_over() -> None:
    crontab = CRONTAB.replace("mail -s", "0 7 * * * mail -s").replace("45 23 L", "45 23 28")
    imported = import_crontab(crontab, "crontab", "UTC")
    jobs = yaml.safe_load(imported.manifest)["jobs"]
    dump = jobs["pg_dump"]
    assert dump["description"] == "Nightly database dump"
    bash, dash_c, script = dump["run"]["command"]  # SHELL=/bin/bash, not yamlcron's /bin/sh
    assert (bash, dash_c) == ("/bin/bash", "-c")
    assert script == 'pg_dump -Fc app > "$BACKUP_DIR/app-$(date +%F).dump"'  # \% is a %
    assert dump["run"]["env"] == {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "BACKUP_DIR": "/var/backups/$${HOST}",  # cron expands nothing: neither may we
    }
    # An unescaped % ends the command; the rest is its standard input, % read as newlines.
    assert jobs["mail"]["run"]["command"][2] == (
        "mail -s \"disk report\" ops@example.com <<'YAMLCRON_STDIN'\n"
        "Disk report follows:\ndone\nYAMLCRON_STDIN"
    )
    assert jobs["standup-reminder"]["trigger"] == {
        "cron": "0 9 * * 1-5",
        "timezone": "America/New_York",
    }
    assert "timezone" not in jobs["backup-sh"]["trigger"]
    assert set(jobs) >= {"backup-sh", "backup-sh-2", "sync-crm", "sync-crm-2"}
    assert jobs["backup-sh-2"]["run"]["command"][2] == "/usr/local/bin/backup.sh --weekly"
    [note] = imported.notes
    assert note.startswith("crontab:4: MAILTO dropped")


def test_what_yamlcron_cannot_do_is_refused_with_its_line() -> None:
    crontab = CRONTAB + "@reboot /usr/local/bin/warm-cache\n0 22-2 * * * night-shift\n"
    with pytest.raises(ManifestError) as refused:
        import_crontab(crontab, "crontab")
    lines = str(refused.value).splitlines()
    starts = [text.split(" ")[0] for text in crontab.splitlines()]
    where = [starts.index("mail"), starts.index("45"), starts.index("@reboot"), len(starts) - 1]
    assert [int(line.split(":")[1]) for line in lines] == [n + 1 for n in where]
    assert "invalid minute field 'mail'" in lines[0]  # a command with no schedule
    assert "L" in lines[1]  # cronie's L (last day of the month) is not in SPEC §1
    assert "@reboot has no yamlcron equivalent" in lines[2]
    assert "22-2" in lines[3]


def test_the_command_prints_a_manifest_plan_accepts(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    crontab = tmp_path / "crontab"
    crontab.write_text("MAILTO=root\n# hello\n*/10 * * * * echo hello\n")
    result = cli("import-crontab", crontab)
    assert result.code == 0, result
    assert "MAILTO dropped" in result.err
    (tmp_path / "jobs.yaml").write_text(result.out)
    planned = cli("plan", "-f", tmp_path / "jobs.yaml")
    assert planned.code == 0, planned
    assert "+ echo" in planned.out
    broken = tmp_path / "broken"
    broken.write_text("@reboot echo hi\n")
    refused = cli("import-crontab", broken)
    assert (refused.code, refused.out) == (1, "")
    assert f"{broken}:1:1: @reboot" in refused.err
    assert "Traceback" not in refused.err
