"""The global OTP send budget, read when /metrics is scraped (core.metrics.register_scrape_collector)."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from .services import global_send_budget_used


def collect_global_budget():
    used, limit = global_send_budget_used()
    yield GaugeMetricFamily(
        "hotline_otp_global_sends", "Codes sent in the current hour (the window of OTP_GLOBAL_SENDS_PER_HOUR).", value=used)
    yield GaugeMetricFamily(
        "hotline_otp_global_sends_limit", "OTP_GLOBAL_SENDS_PER_HOUR: past it every code request is refused (429).",
        value=limit)
