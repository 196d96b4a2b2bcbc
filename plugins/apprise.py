"""The ``apprise`` notifier: Slack, e-mail, Teams, Telegram, ntfy and the rest, in words.

apprise (an optional extra: ``pip install 'yamlcron[apprise]'``) speaks to some hundred
services, each named by a URL::

    notify:
      - via: apprise
        urls:
          - "slack://${SLACK_TOKEN_A}/${SLACK_TOKEN_B}/${SLACK_TOKEN_C}/#ops"
          - "mailtos://${SMTP_USER}:${SMTP_PASSWORD}@mail.example.com?to=ops@example.com"
        link: https://cron.example
        on: [failure, recovery]

The message is ``yamlcron.message``'s: the job, its status and attempt, the duration, the
error, the last ``lines`` of output, and with ``link`` (the status page's public URL) the
run's page, ``{link}/runs/{run id}``. The URLs hold secrets: ``${VAR}`` is expanded just
before each delivery, and what yamlcron logs names a URL by its position and scheme only.

Without the extra installed, each delivery fails with one line saying so (and is counted
as a failed one); the manifest still validates, so that installing the extra is all it
takes. The services are called one after the other on the notification thread, each
bounded by its connect and read timeouts (4 s each by default; a URL's ``cto`` and ``rto``
change them).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from yamlcron.errors import DeliveryError
from yamlcron.events import ManifestEvent, RunEvent
from yamlcron.hookspecs import hookimpl
from yamlcron.interfaces import Notifier
from yamlcron.message import compose

if TYPE_CHECKING:
    from types import ModuleType

#: apprise's kind of notice (its colour and icon in a chat) by event kind; else a warning.
_TYPES = {
    "succeeded": "success",
    "failed": "failure",
    "interrupted": "failure",
    "reload_failed": "failure",
    "started": "info",
    "submitted": "info",
    "applied": "info",
}
MISSING = "the apprise notifier needs the apprise library: pip install 'yamlcron[apprise]'"


class AppriseNotifier:
    """Sends ``yamlcron.message.compose(event)`` to every URL of ``urls`` through apprise."""

    options_schema: Mapping[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["urls"],
        "properties": {
            "urls": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "minLength": 1},
                "description": "apprise URLs (slack://..., mailtos://..., ntfy://...); "
                "${VAR} for their secrets.",
            },
            "link": {
                "type": "string",
                "pattern": "^https?://",
                "description": "The status page's public URL: the message links the run's page.",
            },
            "lines": {
                "type": "integer",
                "minimum": 0,
                "maximum": 500,
                "description": "Lines of the run's output at the message's end (default 20).",
            },
        },
    }

    def notify(self, event: RunEvent | ManifestEvent, options: Mapping[str, Any]) -> None:
        apprise = _library()
        message = compose(event, link=options.get("link"), lines=int(options.get("lines", 20)))
        # No async_mode and no service_timeout: apprise would wait for each service on a
        # process-wide pool of its own, whose threads outlive the call. We are on a
        # notification thread already, and each service's connect and read timeouts
        # still bound its call.
        sender = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False, service_timeout=0))
        urls = [str(url) for url in options["urls"]]
        unknown = [
            f"#{index} ({url.split('://', 1)[0]}://)"
            for index, url in enumerate(urls, 1)
            if not sender.add(url)
        ]
        if len(unknown) < len(urls):
            sent = sender.notify(
                body=message.body,
                title=message.title,
                notify_type=apprise.NotifyType(_TYPES.get(event.kind, "warning")),
                body_format=apprise.NotifyFormat.TEXT,
            )
            if not sent:
                raise DeliveryError(
                    f"apprise could not deliver to one or more of {len(urls)} URLs "
                    "(the 'apprise' logger says which service failed)"
                )
        if unknown:
            raise DeliveryError(f"apprise does not understand URL {', '.join(unknown)}")


def _library() -> ModuleType:
    """apprise, imported at the first delivery: it is heavy, and an optional extra."""
    try:
        import apprise
    except ImportError:
        raise DeliveryError(MISSING) from None
    quoted = logging.getLogger("apprise")
    if not any(isinstance(f, _NoQuotedURLs) for f in quoted.filters):
        quoted.addFilter(_NoQuotedURLs())
    return apprise


class _NoQuotedURLs(logging.Filter):
    """Drops apprise's lines that quote a URL it cannot read whole: its secret with it.

    The notifier's own line names such a URL by its position and scheme.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Unparseable URL", "Unsupported URL"))


@hookimpl
def yamlcron_notifiers() -> Mapping[str, Notifier]:
    return {"apprise": AppriseNotifier()}
