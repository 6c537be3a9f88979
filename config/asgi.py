"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import logging
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

# Django must be set up before consumers (and their models) are imported.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from accounts.ws import TicketAuthMiddleware  # noqa: E402
from config.origin import OriginAllowlistMiddleware  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402

if settings.EMBEDDED_MODE:
    logging.getLogger("hotline").warning(
        "REDIS_URL is not set: using the in-process channel layer, cache and task runner. "
        "This mode is single-process only; set REDIS_URL to run several processes."
    )

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginAllowlistMiddleware(TicketAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
