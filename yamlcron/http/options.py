"""The HTTP server's settings: where it listens and the token that allows actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from yamlcron.errors import YamlcronError
from yamlcron.shapes import Times


@dataclass(frozen=True)
class HttpOptions:
    """``--http HOST:PORT`` and the bearer token of actions (None: actions are refused)."""

    host: str
    port: int
    token: str | None = field(default=None, repr=False)
    times: Times = field(default_factory=Times)
    #: Serve on threads of the service's own process rather than from a process of its
    #: own: requests then share the interpreter lock with the scheduler (docs/operating.md).
    threads: bool = False

    @property
    def address(self) -> str:
        """``HOST:PORT`` as given (an IPv6 host in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def http_options(address: str, token_file: Path | None, times: Times) -> HttpOptions:
    """The settings of ``yamlcron run --http``; a malformed address is a usage error."""
    import os

    import click

    try:
        host, port = parse_address(address)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--http") from None
    token = read_token(token_file, os.environ.get("YAMLCRON_HTTP_TOKEN"))
    return HttpOptions(host, port, token, times)


def parse_address(text: str) -> tuple[str, int]:
    """``127.0.0.1:9746``, ``[::1]:9746`` or ``:9746`` (every interface); ValueError says why."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT (such as 127.0.0.1:9746)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: write an IPv6 host in brackets, such as [::1]:9746")
    return host or "0.0.0.0", int(port)


def read_token(path: Path | None, env_token: str | None) -> str | None:
    """The token from ``--http-token-file`` (its first line), else ``YAMLCRON_HTTP_TOKEN``.

    An empty token would let anyone act: refused, naming where it came from.
    """
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise YamlcronError(f"cannot read the HTTP token file {path}: {exc}") from None
        token = text.strip().splitlines()[0].strip() if text.strip() else ""
        where = f"the HTTP token file {path}"
    elif env_token is not None:
        token, where = env_token.strip(), "YAMLCRON_HTTP_TOKEN"
    else:
        return None
    if not token:
        raise YamlcronError(f"{where} is empty; give a token, or none to refuse actions")
    return token
