"""Django's ASGI handler with the middleware chain and sync views run in one thread hop.

Under ASGI, Django runs every async-capable `MiddlewareMixin` middleware (all of Django's own) in
async mode, and that mode calls each `process_request` / `process_response` through `sync_to_async`:
two thread hops per middleware per request, sixteen for this stack, and one more for a sync view.
hotline's HTTP views are sync (DRF) except auth4app's three /proxy endpoints, so this handler builds
the chain in sync mode, as under WSGI, and enters it with a single `sync_to_async`; an async view
costs one hop back to the event loop (Django's `_get_response` wraps it in `async_to_sync`).
Measured on one OTP login through the in-process ASGI app: about 15 ms of CPU before, 12 ms after
(docs/performance.md).

`settings.MIDDLEWARE` keeps Django's own dotted paths, so `manage.py check --deploy` still sees them.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class SyncChainASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        # thread_sensitive: inside Django's per-request ThreadSensitiveContext this is the request's
        # own thread, shared with the request_started/finished signal receivers (database cleanup).
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)
