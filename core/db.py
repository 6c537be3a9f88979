"""The database from async code: a shared pool of threads for ORM work that needs no particular thread.

Channels' `database_sync_to_async` runs everything on ONE thread, so every socket's handshake query,
subscribe read and message insert queued behind the others' database round trips. `in_db_pool(func)`
runs `func` on one of a few long-lived threads instead; each takes its own connection from the
database pool (so the pool must be larger than this), and closes it back after every call as
`database_sync_to_async` does. Long-lived, unlike an event loop's default executor, so they never
strand a connection. Order is the callers' business: a room's messages still commit in id order
because the insert locks the room row.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.db import connection

logger = logging.getLogger(__name__)

DB_THREADS = 4

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def db_executor() -> ThreadPoolExecutor:
    """The process's pool of database threads (the one owner of these threads)."""
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="socket-db")
    return _executor


def in_db_pool(func):
    """`database_sync_to_async(func)` on the shared database threads instead of the one
    thread-sensitive thread."""
    return database_sync_to_async(func, thread_sensitive=False, executor=db_executor())


# At most one sweep of the pool per this many seconds, however many requests fail together.
POOL_SWEEP_INTERVAL_SECONDS = 1.0
_last_pool_sweep = 0.0
_sweep_lock = threading.Lock()


def discard_broken_connections() -> None:
    """After a database error: check every idle pooled connection now and replace the broken ones.

    A PostgreSQL restart breaks every connection idle in the pool at once. psycopg_pool finds them
    only when it hands them out, one per `getconn`, and a request that draws a broken one sleeps 1,
    then 2 s before drawing again, so with ten broken connections in the pool a request asked right
    after the database came back still timed out (3 s) with a 503. `ConnectionPool.check()` (public
    psycopg_pool API) tests all idle connections at once and starts replacing the dead ones, so the
    next request waits only for a fresh connection. Called by the database-unavailable answers
    (core.errors) and the readiness check (core.health); without a pool (SQLite) it does nothing.
    """
    global _last_pool_sweep
    pool = getattr(connection, "pool", None)  # DatabaseWrapper.pool: see docs/upgrading.md
    if pool is None:
        return
    with _sweep_lock:
        now = time.monotonic()
        if now - _last_pool_sweep < POOL_SWEEP_INTERVAL_SECONDS:
            return
        _last_pool_sweep = now
    try:
        pool.check()
    except Exception:  # a sweep that fails changes nothing; the request's own answer stands
        logger.warning("database pool sweep failed", exc_info=True)
