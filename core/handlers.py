"""Django's ASGI handler, made cheaper per request in two ways that change nothing else.

1. The middleware chain and sync views run in one thread hop. Under ASGI, Django runs every
   async-capable `MiddlewareMixin` middleware (all of Django's own) in async mode, and that mode calls
   each `process_request` / `process_response` through `sync_to_async`: two thread hops per middleware
   per request, sixteen for this stack, and one more for a sync view. hotline's HTTP views are sync
   (DRF) except auth4app's three /proxy endpoints, so the chain is built in sync mode, as under WSGI,
   and entered with a single `sync_to_async`; an async view costs one hop back to the event loop
   (Django's `_get_response` wraps it in `async_to_sync`). `settings.MIDDLEWARE` keeps Django's own
   dotted paths, so `manage.py check --deploy` still sees them.

2. Request threads are reused. Django gives each request a `ThreadSensitiveContext` so that its
   sync parts (signals, middleware, view) share one thread; by default that is a new thread per
   request, started from the event loop, and `Thread.start()` holds the loop until the new thread
   runs, up to a GIL switch interval (5 ms) in a busy process. Profiled under the auth_push bench,
   starting and joining those threads took ~12 % of a web process and delayed every socket on it.
   Here each request still gets a thread of its own for its duration, but from a pool of idle
   single-thread executors (asgiref's `ThreadSensitiveContext(executor=...)`, whose caller owns the
   executor). One case differs: when a client disconnects mid-view, Django stops waiting but the
   view's thread runs on, so the executor goes back to the pool busy and the next request that
   borrows it starts when that view ends (the default handler instead leaves the thread behind).
   Its database connection is then cleaned by that next request's `request_started`, on the same
   thread, as for any request.

Measured on one OTP login through the in-process ASGI app: about 15 ms of CPU before (1), 10.5 after
(docs/performance.md).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler

# Idle request threads kept per process; a burst above this many concurrent requests starts more,
# and those end when their request does.
MAX_IDLE_REQUEST_THREADS = 64


class RequestThreads:
    """Single-thread executors lent to one request at a time (LIFO, so a few stay warm)."""

    def __init__(self, max_idle: int = MAX_IDLE_REQUEST_THREADS):
        self.max_idle = max_idle
        self._idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()
        self.started = 0  # executors created, for tests and curiosity

    def acquire(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self.started += 1
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="http-request")

    def release(self, executor: ThreadPoolExecutor) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(executor)
                return
        executor.shutdown(wait=False)


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self):
        super().__init__()
        self.request_threads = RequestThreads()

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        # thread_sensitive: inside the request's ThreadSensitiveContext this is the request's own
        # thread, shared with the request_started/finished signal receivers (database cleanup).
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.request_threads.acquire()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.request_threads.release(executor)
