"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import logging
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

# Django must be set up before consumers (and their models) are imported.
django.setup(set_prefix=False)

from core.handlers import SyncChainASGIHandler  # noqa: E402

# What django.core.asgi.get_asgi_application() returns, with the middleware chain entered once.
django_asgi_app = SyncChainASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from accounts.ws import TicketAuthMiddleware  # noqa: E402
from config.origin import OriginAllowlistMiddleware  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from core.metrics import SocketMetricsMiddleware  # noqa: E402
from core.requestid import RequestIdMiddleware  # noqa: E402
from core.sockets import BackendFailureMiddleware  # noqa: E402

if settings.EMBEDDED_MODE:
    logging.getLogger("hotline").warning(
        "REDIS_URL is not set: using the in-process channel layer, cache and task runner. "
        "This mode is single-process only; set REDIS_URL to run several processes."
    )
    from core import background  # noqa: E402

    # No beat process either: the housekeeping schedule runs in this process.
    background.run_schedule_in_process(settings.CELERY_BEAT_SCHEDULE)

# Every request and socket gets its request id first (core.requestid), so all it logs carries it.
application = RequestIdMiddleware(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            # A Redis or database failure anywhere inside ends a socket with 4503 (core.sockets).
            "websocket": SocketMetricsMiddleware(
                BackendFailureMiddleware(
                    OriginAllowlistMiddleware(TicketAuthMiddleware(URLRouter(websocket_urlpatterns)))
                ),
                endpoints={"/ws/chat/": "chat", "/ws/auth/": "auth4app"},
            ),
        }
    )
)

if settings.SENTRY_DSN:
    from core.sentry import with_asyncio_integration  # noqa: E402

    application = with_asyncio_integration(application)
