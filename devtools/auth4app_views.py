"""The auth4app simulator as Django views at /dev/auth4app/ (DEBUG only, no API key).

The wire format and behaviour are `devtools.auth4app_simulator.SimulatorCore`'s; here its state lives in
Django's cache so every process of a development server sees the same codes.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from core import csp

from .auth4app_simulator import SimulatorCore, encode, parse_params

_PREFIX = "auth4app-sim"
_TTL = 3600
_INDEX_SIZE = 200


class CacheStorage:
    """SimulatorCore's storage in the Django cache (good enough for one developer's clicks)."""

    def get(self, code_id: str) -> dict | None:
        return cache.get(f"{_PREFIX}:code:{code_id}")

    def put(self, record: dict) -> None:
        cache.set(f"{_PREFIX}:code:{record['code_id']}", record, _TTL)
        index = [record["code_id"], *(cache.get(f"{_PREFIX}:index") or [])][:_INDEX_SIZE]
        cache.set(f"{_PREFIX}:index", index, _TTL)

    def update(self, code_id: str, **fields) -> dict | None:
        record = self.get(code_id)
        if record is None:
            return None
        record.update(fields)
        cache.set(f"{_PREFIX}:code:{code_id}", record, _TTL)
        return record

    def all(self) -> list[dict]:
        ids = cache.get(f"{_PREFIX}:index") or []
        found = cache.get_many([f"{_PREFIX}:code:{i}" for i in ids])
        return [found[f"{_PREFIX}:code:{i}"] for i in ids if f"{_PREFIX}:code:{i}" in found]

    def count(self, name: str) -> None:
        key = f"{_PREFIX}:stats:{name}"
        cache.add(key, 0, _TTL)
        cache.incr(key)

    def get_stats(self) -> dict[str, int]:
        return {name: cache.get(f"{_PREFIX}:stats:{name}", 0) for name in ("code/get", "code/result")}

    def get_setting(self, name: str):
        return {"mode": "ok", "delay": 0.0}.get(name)

    def set_setting(self, name: str, value) -> None:  # the page has no failure modes
        pass

    def reset(self) -> None:
        cache.delete(f"{_PREFIX}:index")


def _core(request) -> SimulatorCore:
    if not (settings.DEBUG and settings.AUTH4APP_SIMULATOR):
        # Defence in depth: config/urls.py mounts these views only in that case anyway.
        raise Http404("The auth4app simulator is off.")
    return SimulatorCore(api_key=None, storage=CacheStorage(), public_url=request.build_absolute_uri("/dev/auth4app"),
                         controls=False)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def upstream(request, endpoint: str):
    """`code/get` and `code/result`, exactly as auth4app answers them."""
    core = _core(request)
    if "json" in (request.content_type or ""):
        params = parse_params(request.META.get("QUERY_STRING", ""), request.content_type, request.body)
    else:  # query and form (urlencoded or multipart), as Django parsed them
        params = {**request.GET.dict(), **request.POST.dict()}
    reply = core.handle(request.method, endpoint, params)
    if reply.delay:
        time.sleep(min(reply.delay, 5.0))
    body, content_type = encode(reply)
    return HttpResponse(body, status=reply.status, content_type=content_type)


@csp.with_policy(csp.DEV_SIMULATOR_POLICY)
def page(request):
    """Pending codes, newest first, each with a button that confirms it."""
    core = _core(request)
    return render(request, "devtools/auth4app_simulator.html", {"pending": core.pending()[:50], "stats": sorted(core.storage.get_stats().items())})


@require_POST
def confirm(request):
    core = _core(request)
    record = core.confirm(request.POST.get("code_id", ""), request.POST.get("phone") or None)
    if "json" in (request.headers.get("Accept") or ""):
        return JsonResponse(record or {"error": "code not found"}, status=200 if record else 404)
    return redirect("auth4app-simulator")
