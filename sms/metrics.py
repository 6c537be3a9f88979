"""The SMS outbox's backlog, read when /metrics is scraped (core.metrics.register_scrape_collector)."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from . import selectors


def collect_outbox():
    backlog = selectors.outbox_backlog()
    messages = GaugeMetricFamily(
        "hotline_sms_outbox_messages",
        f"Outbox messages waiting (queued) or being sent (sending); counted up to {selectors.BACKLOG_COUNT_CAP}.",
        labels=["status"])
    oldest = GaugeMetricFamily(
        "hotline_sms_outbox_oldest_age_seconds", "Age of the oldest queued / sending outbox message (0: none).",
        labels=["status"])
    for status, (count, age) in backlog.items():
        messages.add_metric([status], count)
        oldest.add_metric([status], age or 0.0)
    yield messages
    yield oldest
