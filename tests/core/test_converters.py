"""`<dbid:...>`: a path id that cannot be a database id does not match the route (404, no query)."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter

from core.converters import DATABASE_ID_MAX, DatabaseIdConverter


def test_bounds():
    converter = DatabaseIdConverter()
    assert converter.to_python("1") == 1
    assert converter.to_python(str(DATABASE_ID_MAX)) == DATABASE_ID_MAX
    for value in ("0", str(DATABASE_ID_MAX + 1), "99999999999999999999"):
        with pytest.raises(ValueError):
            converter.to_python(value)
    assert converter.to_url(42) == "42"


def _patterns(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def test_no_route_takes_an_unbounded_int():
    unbounded = [
        route
        for route, pattern in _patterns(get_resolver())
        if not route.startswith("admin/")
        and any(isinstance(c, IntConverter) for c in pattern.pattern.converters.values())
    ]
    assert unbounded == []


@pytest.mark.django_db
def test_a_huge_session_id_is_404(auth_client):
    client, _ = auth_client()
    assert client.delete("/api/sessions/99999999999999999999999999999999999999/").status_code == 404
