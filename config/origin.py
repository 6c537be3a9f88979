"""Browsers must open sockets from this server's own origin or a trusted one; clients that send no
Origin (not browsers) may connect.

The rule is Django's CSRF Origin check, applied to the WebSocket handshake: the Origin's scheme, host
and port must equal the request's own (`ws` pairs with `http`, `wss` or a trusted proxy's HTTPS header
with `https`; the Host must be in ALLOWED_HOSTS), or match an entry of CSRF_TRUSTED_ORIGINS
(`https://*.example.com` allows subdomains, with the same scheme and port). Comparing host names
alone let any port or scheme of an allowed host in (`http://localhost:9999`, another program on the
same machine). Channels' AllowedHostsOriginValidator also compares host names only, and refuses a
handshake without Origin, which would lock out scripts and mobile apps.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port, validate_host

from core.net import scope_header

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_parts(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin or `scheme://host[:port]` URL; None when it is not one."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def _allowed_hosts() -> list[str]:
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # as Django's own request.get_host()
    return allowed


def _is_trusted(parts: tuple[str, str, int]) -> bool:
    scheme, host, port = parts
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        wildcard = "://*." in entry
        trusted = _origin_parts(entry.replace("://*.", "://", 1))
        if trusted is None or trusted[0] != scheme or trusted[2] != port:
            continue
        if host == trusted[1] or (wildcard and is_same_domain(host, "." + trusted[1])):
            return True
    return False


def origin_allowed(origin: str, *, host: str, secure: bool) -> bool:
    """Whether a handshake with this Origin header may open a socket on `host` (the Host header),
    reached over HTTPS or not."""
    if not origin:
        return True
    parts = _origin_parts(origin)
    if parts is None:  # "null" (sandboxed frames, file: pages) and anything malformed
        return False
    domain, port = split_domain_port(host.lower())
    if domain and validate_host(domain, _allowed_hosts()):
        own = _origin_parts(f"{'https' if secure else 'http'}://{host}")
        if own is not None and own == parts:
            return True
    return _is_trusted(parts)


def scope_is_secure(scope) -> bool:
    """Whether the client reached us over TLS: `wss`, or the trusted proxy's header (SECURE_PROXY_SSL_HEADER)."""
    if scope.get("scheme") in ("wss", "https"):
        return True
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, expected = settings.SECURE_PROXY_SSL_HEADER
        header = meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")
        value = scope_header(scope, header).split(",", 1)[0].strip()
        return value == expected
    return False


class OriginAllowlistMiddleware:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(
            scope_header(scope, b"origin"), host=scope_header(scope, b"host"), secure=scope_is_secure(scope)
        ):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)


__all__ = ["origin_allowed", "OriginAllowlistMiddleware", "scope_is_secure"]
