"""A plugin installed after a registry was built: named as what a restart would load."""

from __future__ import annotations

from pathlib import Path

import pytest

from yamlcron import Yamlcron
from yamlcron.events import ManifestEvent
from yamlcron.hookspecs import hookimpl
from yamlcron.registry import build_registry


def _install(site: Path, dist: str, entry: str) -> None:
    """A minimal installed distribution with one ``yamlcron`` entry point."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[yamlcron]\n{entry} = {entry}_module\n")


def test_a_plugin_installed_later_is_named_for_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("YAMLCRON_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    registry = build_registry()
    assert registry.restart_hint() == ""
    _install(tmp_path, "yamlcron-late", "late")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert registry.installed_since() == ("late (yamlcron-late)",)
    assert registry.restart_hint() == (
        "; installed after this process started, so loaded once it restarts: late (yamlcron-late)"
    )
    unloading = build_registry(autoload=False)  # it never loads entry points: nothing is late
    assert unloading.restart_hint() == ""


def test_a_reload_that_needs_a_late_plugin_says_a_restart_loads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("YAMLCRON_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    heard: list[ManifestEvent] = []

    class Listener:
        @hookimpl
        def yamlcron_manifest_event(self, event: ManifestEvent) -> None:
            heard.append(event)

    manifest = tmp_path / "jobs.yaml"
    manifest.write_text("version: 1\njobs:\n  a: {trigger: {interval: 1h}, run: {shell: 'true'}}\n")
    cron = Yamlcron(manifest, registry=build_registry(extra=[Listener()]))
    try:
        cron.apply()
        _install(tmp_path / "site", "yamlcron-late", "late")
        monkeypatch.syspath_prepend(str(tmp_path / "site"))
        manifest.write_text(
            "version: 1\njobs:\n"
            "  a: {trigger: {interval: 1h}, run: {shell: 'true'}, executor: late}\n"
        )
        assert cron.reload() is False
    finally:
        cron.stop()
    [failed] = [e for e in heard if e.kind == "reload_failed"]
    assert "unknown executor 'late'" in failed.message
    assert failed.message.endswith(
        "installed after this process started, so loaded once it restarts: late (yamlcron-late)"
    )
