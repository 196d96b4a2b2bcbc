"""The ``yamlcron`` command: thin commands over the service (``yamlcron.app.Yamlcron``).

Each command parses its options, makes one call of the service and prints the answer
through ``yamlcron.cli.render``. Exit codes (SPEC §8): 0 ok, 1 failed (invalid manifest,
refused plan, store error), 2 only for ``plan --detailed-exitcode`` with changes, 64 usage
error, 130 interrupted.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import click

from yamlcron.cli import crontabs, manifests, runtime
from yamlcron.cli.logs import configure_logging
from yamlcron.cli.options import App
from yamlcron.errors import ManifestError, YamlcronError
from yamlcron.shapes import Times

# What a command needs is imported in the command: every call of `yamlcron` pays for what
# is imported here, and `--help` or `validate` in a pre-commit hook need little of it
# (tests/test_startup.py counts the modules; bench/startup.py times them).
if TYPE_CHECKING:
    from yamlcron.registry import Registry

EXIT_USAGE = 64
EXIT_INTERRUPTED = 130

COMMANDS = (
    manifests.validate,
    manifests.plan,
    manifests.apply,
    runtime.jobs,
    manifests.next_times,
    manifests.plugins,
    manifests.schema,
    runtime.run,
    runtime.history,
    runtime.trigger,
    runtime.replicas,
    runtime.pause,
    runtime.resume,
    crontabs.import_crontab,
)


def build_cli(make_registry: Callable[[], Registry] | None = None) -> click.Group:
    """The command group; ``make_registry`` lets tests choose the plugins."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="yamlcron")
    @click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        envvar="YAMLCRON_LOG_FORMAT",
        help="Logs on stderr: human-readable, or one JSON object a line.",
    )
    @click.option("-v", "--verbose", is_flag=True, help="Log debug details too.")
    @click.option(
        "--utc",
        is_flag=True,
        envvar="YAMLCRON_UTC",
        help="Print every time in UTC (env YAMLCRON_UTC), not in the job's or this host's zone.",
    )
    @click.pass_context
    def cli(ctx: click.Context, log_format: str, verbose: bool, utc: bool) -> None:
        """Declarative YAML cron and workflow runner.

        Keep your jobs in a jobs.yaml in git; `apply` makes the job store match it and
        `run` schedules it, reloading when the file changes.

        \b
        Example:
          yamlcron validate -f jobs.yaml
          yamlcron plan && yamlcron apply
          yamlcron next nightly-backup --count 5
        """
        configure_logging(log_format, logging.DEBUG if verbose else logging.INFO, utc=utc)
        ctx.obj = App(make_registry, Times(utc))

    for command in COMMANDS:
        cli.add_command(command)
    return cli


def main(
    argv: Sequence[str] | None = None, make_registry: Callable[[], Registry] | None = None
) -> int:
    """Run the command line; returns the exit code (``yamlcron`` exits with it).

    The ``yamlcron`` logger is given back as it was found: a program (or a test) that calls
    ``main`` keeps its own logging, and no handler is left writing to a stream it closes.
    """
    cli = build_cli(make_registry)
    logger = logging.getLogger("yamlcron")
    handlers, level, propagate = logger.handlers[:], logger.level, logger.propagate
    try:
        code = cli.main(args=argv, prog_name="yamlcron", standalone_mode=False)
    except click.UsageError as exc:
        exc.show()
        code = EXIT_USAGE
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        code = EXIT_INTERRUPTED
    except ManifestError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        code = 1
    except YamlcronError as exc:
        click.echo(f"error: {exc}", err=True)
        code = 1
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(level)  # setLevel, not .level: it clears the loggers' level cache
        logger.propagate = propagate
    return code if isinstance(code, int) else 0


def entry_point() -> None:
    """The console script."""
    sys.exit(main())
