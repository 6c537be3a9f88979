"""`GET /metrics`: every metric of core.metrics in the Prometheus text format, never public.

Access (docs/deployment.md): with METRICS_ENABLED off, or with neither METRICS_TOKEN nor
METRICS_ALLOWED_IPS set, the endpoint does not exist (404): nothing is exposed by default. Each of
the two that is set is required: `Authorization: Bearer <METRICS_TOKEN>` (compared in constant
time; else 401 with `WWW-Authenticate`) and a client address inside METRICS_ALLOWED_IPS (read
through TRUSTED_PROXY_COUNT like every client address; else 403).

What is exported: in multiprocess mode (PROMETHEUS_MULTIPROC_DIR) the sum of every process's files,
so one scrape of any web process covers the web processes and the worker of its host; otherwise
this process's own metrics (with prometheus-client's process_* figures). Then, read at scrape time,
the values apps registered with `core.metrics.register_scrape_collector`, and whether this process
reaches the database and Redis (`hotline_dependency_up`): one `SELECT 1` and one cache round trip
per scrape. The exposition itself is prometheus-client's Django view.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import uuid

from django.conf import settings
from django.db import connection
from django.http import Http404, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.django import PrometheusDjangoView

from core import metrics
from core.net import client_ip

logger = logging.getLogger(__name__)


def _database_up() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except Exception as exc:  # down, refusing, or the pool timed out
        logger.warning("metrics: the database does not answer: %r", exc)
        return False


def _redis_up() -> bool:
    from django.core.cache import cache

    key = f"metrics:probe:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", timeout=5)
        return cache.get(key) == "1"
    except Exception as exc:
        logger.warning("metrics: Redis does not answer: %r", exc)
        return False


def collect_dependencies():
    family = GaugeMetricFamily(
        "hotline_dependency_up", "1 when the scraped process reaches the dependency, else 0.", labels=["dependency"])
    family.add_metric(["database"], float(_database_up()))
    if settings.REDIS_URL:
        family.add_metric(["redis"], float(_redis_up()))
    yield family


class _AtScrape:
    """The scrape-time collectors; one that fails is left out of this scrape (and logged)."""

    def collect(self):
        for collect in [collect_dependencies, *metrics.scrape_collectors()]:
            try:
                families = list(collect())
            except Exception as exc:
                logger.warning("metrics: %s failed: %r", getattr(collect, "__name__", collect), exc)
                continue
            yield from families


def _multiprocess_collector(registry: CollectorRegistry):
    from prometheus_client.multiprocess import MultiProcessCollector

    class Collector(MultiProcessCollector):
        def collect(self):
            # A process starting meanwhile may remove a dead process's empty file between the
            # library's listing of the directory and its reading (core.metrics.forget_dead_processes).
            for _ in range(2):
                try:
                    return super().collect()
                except FileNotFoundError:
                    continue
            return super().collect()

    return Collector(registry, path=metrics.MULTIPROCESS_DIR)


def scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if metrics.ENABLED and metrics.MULTIPROCESS_DIR:
        _multiprocess_collector(registry)
    else:
        registry.register(REGISTRY)
    registry.register(_AtScrape())
    return registry


_exposition = PrometheusDjangoView.as_view(registry=scrape_registry(), multiprocess_mode=False)


def _refusal(request) -> HttpResponse | None:
    if not (settings.METRICS_ENABLED and (settings.METRICS_TOKEN or settings.METRICS_ALLOWED_IPS)):
        raise Http404("metrics are not exposed")
    if settings.METRICS_ALLOWED_IPS:
        ip = client_ip(request)
        if ip is None or not any(_contains(network, ip) for network in settings.METRICS_ALLOWED_IPS):
            return HttpResponse("Forbidden.\n", status=403, content_type="text/plain")
    if settings.METRICS_TOKEN:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), settings.METRICS_TOKEN.encode()):
            response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return None


def _contains(network, ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return address.version == network.version and address in network


def metrics_view(request):
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    return _refusal(request) or _exposition(request)
