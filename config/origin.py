"""Browsers must open sockets from an allowed host; clients that send no Origin (not browsers) may connect.

Channels' AllowedHostsOriginValidator refuses a handshake without Origin, which would lock out
scripts and mobile apps, so this validator differs from it only in that one case.
"""

from urllib.parse import urlparse

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port

from core.net import scope_header


def origin_allowed(origin: str) -> bool:
    if not origin:
        return True
    parsed = urlparse(origin)
    if not parsed.hostname:
        return False
    host = parsed.hostname.lower()
    if parsed.hostname and ":" in parsed.hostname:
        host = f"[{host}]"
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    trusted = [urlparse(o).hostname for o in settings.CSRF_TRUSTED_ORIGINS if urlparse(o).hostname]
    return any(pattern == "*" or is_same_domain(host, pattern) for pattern in allowed + trusted)


class OriginAllowlistMiddleware:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope_header(scope, b"origin")):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)


__all__ = ["origin_allowed", "OriginAllowlistMiddleware", "split_domain_port"]
