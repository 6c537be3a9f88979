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

import threading
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async

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
