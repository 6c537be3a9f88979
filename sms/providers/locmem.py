"""Test provider, like Django's locmem mail backend: keeps every SMS in `sms.providers.locmem.outbox`."""

from __future__ import annotations

import threading

from .base import OutgoingSMS, Provider, SendResult

outbox: list[OutgoingSMS] = []
_lock = threading.Lock()


class LocmemProvider(Provider):
    name = "locmem"

    def _send(self, sms: OutgoingSMS) -> SendResult:
        with _lock:
            outbox.append(sms)
            return SendResult.sent(f"locmem-{len(outbox)}")


