"""What every command shares: the options, and the context that opens the service."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from yamlcron.shapes import Times

if TYPE_CHECKING:
    from yamlcron.app import Yamlcron
    from yamlcron.registry import Registry

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class App:
    """The registry, built on first use so ``--help`` loads none, and the time rule."""

    make_registry: Callable[[], Registry] | None  # None: the built-ins and installed plugins
    times: Times = field(default_factory=Times)
    _registry: Registry | None = field(default=None)

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            if self.make_registry is None:
                from yamlcron.registry import build_registry

                self.make_registry = build_registry
            self._registry = self.make_registry()
        return self._registry

    def service(
        self, manifest_path: Path, store_url: str | None, *, create: bool = False, **options: Any
    ) -> Yamlcron:
        """The service for a command; only ``apply`` and ``run`` may create the store."""
        from yamlcron.app import Yamlcron

        return Yamlcron(
            manifest_path, store=store_url, registry=self.registry, create=create, **options
        )


class _ManifestPath(click.Path):
    """A manifest's path; ``YAMLCRON_FILE`` names one file, whatever characters it holds."""

    def split_envvar_value(self, rv: str) -> Sequence[str]:
        return (rv,)


def _one_manifest(ctx: click.Context, param: click.Parameter, value: tuple[Path, ...]) -> Path:
    """``-f`` given twice was silently the last one: a command reads one manifest."""
    if len(value) > 1:
        shown = ", ".join(map(str, value))
        raise click.UsageError(
            f"-f/--file given {len(value)} times ({shown}); this command reads one manifest "
            "(only 'yamlcron validate' checks several)",
            ctx,
        )
    return value[0]


def file_option(dest: str, **extra: Any) -> Callable[[F], F]:
    return click.option(
        "-f",
        "--file",
        dest,
        type=_ManifestPath(path_type=Path, dir_okay=False),
        multiple=True,  # so that a second -f is seen (and refused where one is meant)
        envvar="YAMLCRON_FILE",
        **extra,
    )


def manifest_options(func: F) -> F:
    """``-f/--file`` (one manifest) and ``--store``."""
    func = click.option(
        "--store",
        "store_url",
        envvar="YAMLCRON_STORE",
        metavar="URL",
        help="Job store URL (env YAMLCRON_STORE); default: .yamlcron/state.db beside the manifest.",
    )(func)
    return file_option(
        "manifest_path",
        callback=_one_manifest,
        default=("jobs.yaml",),
        show_default=True,
        help="The manifest (env YAMLCRON_FILE).",
    )(func)


def output_option(func: F) -> F:
    return click.option(
        "-o",
        "--output",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Print text for people or JSON for programs.",
    )(func)
