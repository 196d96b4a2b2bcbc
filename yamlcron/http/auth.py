"""The bearer token that allows actions, compared in constant time."""

from __future__ import annotations

import hmac

from yamlcron.http.web import HttpError

CHALLENGE = (("WWW-Authenticate", 'Bearer realm="yamlcron"'),)


def require_token(token: str | None, authorization: str) -> None:
    """Pass when ``authorization`` is ``Bearer <token>``; 403 with no token set, else 401."""
    if token is None:
        raise HttpError(
            403,
            "actions are off: start yamlcron run with --http-token-file FILE "
            "or YAMLCRON_HTTP_TOKEN",
        )
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise HttpError(401, "this action needs 'Authorization: Bearer <token>'", CHALLENGE)
    # compare_digest takes the same time wherever the two differ: no timing oracle.
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HttpError(401, "wrong token", CHALLENGE)
