"""Leases of the outbox messages this process is sending, renewed while their provider calls run.

A worker owns a claimed message (`status='sending'`) only until its `lease_expires_at`. One thread
per process renews the leases of every message the process is sending, in one UPDATE every third
of SMS_SENDING_LEASE_SECONDS, for as long as the provider call (and the write of its outcome)
runs. A worker that dies (kill -9, out of memory, a lost machine) stops renewing, and once the
lease has run out the outbox sweep (`sms.services.outbox_requeue_expired`, run by beat) makes the
message due again. So the lease can be short whatever a provider call costs: it bounds how long a
dead worker's message waits, not how long a live worker may take.

Why renewal and not a lease longer than any provider call: httpx's timeouts are per phase (connect,
write, each read), so no fixed lease is safely longer than a call, and a long one would keep a dead
worker's code waiting for most of its lifetime.
"""

from __future__ import annotations

import logging
import operator
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import reduce

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q

from core import clock

from .models import Message

logger = logging.getLogger(__name__)


def lease_end(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.SMS_SENDING_LEASE_SECONDS)


class LeaseKeeper:
    """The renewing thread of one process (see the module docstring); `keeper()` is the one instance."""

    def __init__(self):
        self._held: dict[int, datetime] = {}  # message id -> claimed_at, the claim's token
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextmanager
    def hold(self, message_id: int, claimed_at: datetime):
        """Keep renewing the lease of claim (`message_id`, `claimed_at`) until the block ends."""
        with self._lock:
            self._held[message_id] = claimed_at
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sms-lease-keeper", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(message_id, None)

    def held(self) -> dict[int, datetime]:
        with self._lock:
            return dict(self._held)

    def renew(self) -> int:
        """Push every held lease to now + SMS_SENDING_LEASE_SECONDS; returns how many rows were renewed.

        Only rows still claimed by the same claim are touched: a message that a sweep took back
        (this process stalled past its lease) stays with whoever has it now.
        """
        held = self.held()
        if not held:
            return 0
        claims = reduce(operator.or_, (Q(pk=pk, claimed_at=claimed_at) for pk, claimed_at in held.items()))
        return Message.objects.filter(claims, status=Message.Status.SENDING).update(lease_expires_at=lease_end(clock.now()))

    def _run(self) -> None:
        stop = threading.Event()  # never set: the thread lives as long as the process
        while not stop.wait(settings.SMS_SENDING_LEASE_SECONDS / 3):
            if not self.held():
                continue
            try:
                self.renew()
            except DatabaseError:
                # Two renewals may fail before a lease runs out; a longer database outage lets the
                # sweep take the message back, which can send it twice (docs/reliability.md).
                logger.warning("could not renew the leases of SMS being sent", exc_info=True)
            finally:
                # Give the pooled connection back between renewals (and drop a broken one).
                connection.close()


_keeper = LeaseKeeper()


def keeper() -> LeaseKeeper:
    return _keeper
