"""The client's address, trusting exactly TRUSTED_PROXY_COUNT proxies and no header beyond them."""

from __future__ import annotations

import ipaddress

from django.conf import settings


def _valid_ip(value: str | None) -> str | None:
    """The address in canonical form, or None when it is not an IP address: a misconfigured proxy
    (or a test client) must not turn into a database error where the address is stored."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _pick(forwarded_for: str, peer: str | None) -> str | None:
    return _valid_ip(_pick_raw(forwarded_for, peer))


def _pick_raw(forwarded_for: str, peer: str | None) -> str | None:
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0 or not forwarded_for:
        return peer
    chain = [part.strip() for part in forwarded_for.split(",") if part.strip()]
    # The last `hops` entries were appended by our own proxies; the one before them is the client.
    if len(chain) < hops:
        # Fewer hops than our proxies would have appended: the request did not come through all of
        # them, so every entry may be the client's own invention. The peer is the one fact.
        return peer
    return chain[-hops]


def client_ip(request) -> str | None:
    """Client IP of a Django/DRF request."""
    return _pick(request.META.get("HTTP_X_FORWARDED_FOR", ""), request.META.get("REMOTE_ADDR"))


def scope_client_ip(scope) -> str | None:
    """Client IP of an ASGI scope (WebSocket)."""
    headers = dict(scope.get("headers") or [])
    forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1")
    client = scope.get("client") or (None, None)
    return _pick(forwarded, client[0])


def scope_header(scope, name: bytes) -> str:
    for key, value in scope.get("headers") or []:
        if key == name:
            return value.decode("latin-1")
    return ""
