"""The Weibo and WeChat simulators as Django views at /dev/weibo/ and /dev/wechat/ (DEBUG only, no keys).

The wire formats and behaviour are `devtools.social_simulator`'s; here their records live in Django's cache so
every process of a development server sees the same codes and tokens. The Weibo simulator answers
as the app configured in settings (client id, secret, registered redirect URI), so it redirects only
to WEIBO_REDIRECT_URI.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core import csp
from devtools.localhttp import parse_params

from .social_simulator import SimReply, WechatSimulator, WeiboSimulator, encode

_PREFIX = "social-sim"


class CacheStore:
    """The simulators' records in the Django cache."""

    def put(self, key: str, value: object, ttl: int) -> None:
        cache.set(f"{_PREFIX}:{key}", value, ttl)

    def get(self, key: str):
        return cache.get(f"{_PREFIX}:{key}")

    def take(self, key: str):
        value = cache.get(f"{_PREFIX}:{key}")
        return value if value is not None and cache.delete(f"{_PREFIX}:{key}") else None


def _params(request) -> dict:
    if "json" in (request.content_type or ""):
        return parse_params(request.META.get("QUERY_STRING", ""), request.content_type, request.body)
    return {**request.GET.dict(), **request.POST.dict()}


def _reply(reply: SimReply) -> HttpResponse:
    if reply.delay:
        time.sleep(min(reply.delay, 10.0))
    response = HttpResponse(encode(reply), status=reply.status, content_type=reply.content_type)
    for name, value in reply.headers.items():
        response[name] = value
    if reply.content_type.startswith("text/html"):
        response[csp.HEADER] = csp.DEV_SIMULATOR_POLICY
    return response


# The authorize page's form posts back to the simulator without a CSRF token: the simulator is a
# stand-in for another site (Weibo), its page is not one of ours, and it only exists with DEBUG on.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def weibo(request, endpoint: str):
    if not (settings.DEBUG and settings.WEIBO_SIMULATOR):
        # Defence in depth: config/urls.py mounts these views only in that case anyway.
        raise Http404("The Weibo simulator is off.")
    simulator = WeiboSimulator(
        store=CacheStore(),
        public_url=request.build_absolute_uri("/dev/weibo"),
        client_id=settings.WEIBO_CLIENT_ID,
        client_secret=settings.WEIBO_CLIENT_SECRET,
        redirect_uri=settings.WEIBO_REDIRECT_URI,
    )
    return _reply(simulator.handle(request.method, endpoint, _params(request)))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def wechat(request, endpoint: str):
    if not (settings.DEBUG and settings.WECHAT_MP_SIMULATOR):
        raise Http404("The WeChat simulator is off.")
    simulator = WechatSimulator(store=CacheStore(), appid=settings.WECHAT_MP_APPID, secret=settings.WECHAT_MP_SECRET)
    return _reply(simulator.handle(request.method, endpoint, _params(request)))
