"""The manifest side of the service: where a plan comes from, plan, apply, what is announced."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from yamlcron import reconcile
from yamlcron.answers import summary
from yamlcron.errors import PlanRefusedError
from yamlcron.eventbus import EventBus
from yamlcron.events import JobEvent, ManifestEvent, ManifestEventKind
from yamlcron.interfaces import Store
from yamlcron.manifest import load_manifest, parse_manifest, rules_digest
from yamlcron.model import AppliedManifest, Manifest, NotifySpec, Plan
from yamlcron.registry import Registry
from yamlcron.storeaccess import StoreAccess

#: Where a plan comes from: the manifest, validated, or the record of the last apply
#: when the file is still that manifest (then it is not read again).
Source = Manifest | AppliedManifest
Show = Callable[[Plan], None]


@dataclass(frozen=True)
class Applied:
    """What an apply left: its plan, the store's record of it, the manifest's notifiers."""

    plan: Plan
    record: AppliedManifest | None
    notify: tuple[NotifySpec, ...]


@dataclass(frozen=True)
class Applier:
    """Plans and applies one manifest (a file, or ``text`` standing for it) to its store."""

    path: Path
    text: str | None
    registry: Registry
    stores: StoreAccess
    events: EventBus
    clock: Callable[[], datetime]

    def load(self) -> Manifest:
        """Read and validate the manifest (ManifestError lists every problem)."""
        components = self.registry.components
        if self.text is not None:
            return parse_manifest(self.text, self.path, components)
        return load_manifest(self.path, components)

    def source(self) -> Source:
        """The record of the last apply if the file is still that manifest, else the manifest.

        That is when its bytes and git commit are those of the last apply and the rules it
        was validated by are the same: the boot of a GitOps deploy re-applies for free, and
        ``yamlcron run`` starts on the store as it is, however many jobs it holds. This is
        the one place that decides "the manifest is unchanged".
        """
        store = self.stores.for_manifest()
        if self.text is None:
            rules = rules_digest(self.registry.components)
            record = reconcile.current_record(self.path, store, rules)
            # A damaged job row is the store's difference from the manifest: a plan
            # rewrites it, so the shortcut stands only while every row is intact.
            if record is not None and not store.unreadable():
                return record
        return self.load()

    def plan(self, *, force: bool, show: Show | None) -> Plan:
        """What ``apply`` would change; ``show`` sees it before the deletion guard decides."""
        store = self.stores.for_manifest()
        source = self.source()
        if isinstance(source, AppliedManifest):
            result = reconcile.empty_plan(store)
            stored_count = result.unchanged
        else:
            stored = store.load_jobs()
            result = reconcile.plan(source, stored, self.clock())
            stored_count = len(stored)
        if show is not None:
            show(result)
        reconcile.check_guard(result, stored_count, force=force)
        return result

    def apply(
        self, source: Source, writing: Callable[[], Store], *, force: bool, show: Show | None
    ) -> Applied:
        """Apply ``source`` to the store ``writing`` opens (not for a source that is a record)."""
        if isinstance(source, AppliedManifest):
            result = reconcile.empty_plan(self.stores.open(create=False))
            if show is not None:
                show(result)
            return Applied(result, source, source.notify or ())
        store = writing()
        now = self.clock()
        try:
            result, wrote = reconcile.sync(source, store, now, force=force, show=show)
        except PlanRefusedError as exc:
            self.publish("plan_refused", source.notify, str(exc))
            raise
        if wrote:
            publish_apply(self.events, result, source, now)
        return Applied(result, store.last_applied(), source.notify)

    def publish(self, kind: ManifestEventKind, notify: Sequence[NotifySpec], message: str) -> None:
        """Announce a manifest event (refused, reload failed) to listeners and ``notify``."""
        event = ManifestEvent(
            kind=kind,
            path=str(self.path),
            time=self.clock(),
            message=message,
            folder=self.path.absolute().parent,
        )
        self.events.publish(event, notify)


def publish_apply(events: EventBus, plan: Plan, manifest: Manifest, now: datetime) -> None:
    """The events of an apply that wrote: each job added, changed, removed; the manifest.

    An apply that changed no job (it recorded a new git commit, or rules, for the same
    jobs: the start of every deploy) announces nothing, not even ``manifest.applied``.
    """
    if plan.is_empty:
        return
    for spec in plan.add:
        events.publish(JobEvent(kind="added", job_id=spec.id, time=now))
    for spec, changes in plan.change:
        paths = tuple(c.path for c in changes)
        events.publish(JobEvent(kind="changed", job_id=spec.id, time=now, changes=paths))
    for job_id in plan.remove:
        events.publish(JobEvent(kind="removed", job_id=job_id, time=now))
    applied = ManifestEvent(
        kind="applied",
        path=str(manifest.path),
        time=now,
        digest=manifest.digest,
        message=summary(plan),
        folder=manifest.path.absolute().parent,
    )
    events.publish(applied, manifest.notify)
