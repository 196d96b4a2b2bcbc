"""Secrets hidden from what yamlcron prints: every URL shown in a message or a log line.

A store URL may carry a password in its user part (``user:secret@host``) or in its query
(``?password=secret``, libpq's own spelling; ``sslpassword``, a token...); a driver's error
may echo any part of it back. ``redact_url`` is the one way a URL is shown, and ``scrub``
takes the same secrets out of a text that quotes it.
"""

from __future__ import annotations

import re

#: Shown instead of a secret.
HIDDEN = "***"
#: A query or ``key=value`` setting whose name says it holds a secret.
_SECRET_SETTING = re.compile(
    r"(?P<name>[\w.-]*(?:pass|pwd|secret|token|key|auth|credential)[\w.-]*)"
    r"(?P<eq>\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|[^&;\s#]*)",
    re.IGNORECASE,
)


def _user_password(url: str) -> tuple[int, int] | None:
    """Where the password of ``scheme://user:password@host`` is in ``url``, if it has one."""
    scheme_end = url.find("://")
    if scheme_end < 0:
        return None
    start = scheme_end + 3
    end = min((i for i in (url.find(c, start) for c in "/?#") if i >= 0), default=len(url))
    at = url.rfind("@", start, end)
    colon = url.find(":", start, at) if at >= 0 else -1
    return (colon + 1, at) if colon >= 0 else None


def secrets_of(url: str) -> list[str]:
    """The secret values ``url`` holds, longest first (none are empty)."""
    found = [m["value"].strip("'") for m in _SECRET_SETTING.finditer(url)]
    span = _user_password(url)
    if span is not None:
        found.append(url[span[0] : span[1]])
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact_url(url: str) -> str:
    """``url`` as it may be shown: its password and secret settings replaced by ``***``."""
    span = _user_password(url)
    if span is not None and span[1] > span[0]:
        url = f"{url[: span[0]]}{HIDDEN}{url[span[1] :]}"
    return _SECRET_SETTING.sub(lambda m: f"{m['name']}{m['eq']}{HIDDEN if m['value'] else ''}", url)


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's error, say) with every secret of ``url`` in it hidden."""
    for secret in secrets_of(url):
        text = text.replace(secret, HIDDEN)
    return text
