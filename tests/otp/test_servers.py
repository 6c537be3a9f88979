"""Across real processes: two daphne servers sharing the test database and Redis."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from otp import services

pytestmark = [pytest.mark.integration]

NUMBER = "+989121234567"


def _not_at_an_hour_boundary() -> None:
    """The hourly budgets are fixed windows: keep the test inside one of them."""
    left = 3600 - time.time() % 3600
    if left < 10:
        time.sleep(left + 0.5)


@pytest.fixture
def discarded_task_queue(settings):
    """A Celery queue no worker reads, emptied afterwards: these tests look at limits, not delivery."""
    import redis

    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-otp-discard"
    yield queue
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    client.close()


def test_send_budgets_hold_across_processes_and_ignore_forged_forwarded_for(start_server, discarded_task_queue):
    env = {"OTP_RESEND_SECONDS": "0", "OTP_SENDS_PER_NUMBER_PER_HOUR": "4", "OTP_SENDS_PER_IP_PER_HOUR": "6",
           "TRUSTED_PROXY_COUNT": "0", "SMS_PROVIDER": "console", "CELERY_QUEUE": discarded_task_queue}
    servers = [start_server(**env), start_server(**env)]
    _not_at_an_hour_boundary()
    statuses = []
    for i in range(7):
        number = NUMBER if i < 5 else f"+98912100000{i}"
        server = servers[i % 2]
        # A different forged client address on every request: without trusted proxies it must not count.
        response = httpx.post(f"{server.url}/api/otp/send/", json={"mobile_number": number},
                              headers={"X-Forwarded-For": f"10.66.0.{i}"}, timeout=10)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            refused = response.json()
            assert set(refused) == {"details", "detail", "retry_after"}
    # 4 sends to NUMBER split over both processes, the 5th refused (per-number budget); the
    # 6th request from this IP passes, the 7th is refused (per-IP budget).
    assert statuses == [200, 200, 200, 200, 429, 200, 429]
    assert {s.process.poll() for s in servers} == {None}


def test_right_code_in_parallel_across_processes_logs_in_once(start_server, sms, otp_settings):
    parallel = 16
    otp_settings.OTP_MAX_ATTEMPTS = parallel  # let every request reach the consuming UPDATE
    servers = [start_server(), start_server()]
    services.otp_code_send(mobile_number=NUMBER, ip="127.0.0.1")
    body = {"mobile_number": NUMBER, "code": sms.last_code(NUMBER)}

    async def fire():
        async with httpx.AsyncClient(timeout=20) as http:
            return await asyncio.gather(
                *(http.post(f"{servers[i % 2].url}/api/authenticate/", json=body) for i in range(parallel))
            )

    responses = asyncio.run(fire())
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * (parallel - 1), [r.text for r in responses if r.status_code not in (200, 401)]
    winner = next(r for r in responses if r.status_code == 200).json()
    refreshed = httpx.post(f"{servers[0].url}/api/token/refresh/", json={"refresh": winner["refresh"]}, timeout=10)
    assert refreshed.status_code == 200
