"""`/ws/auth/<code_id>/`: the live status of one auth4app login, pushed the moment a server learns it."""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http.cookie import parse_cookie
from django.utils import translation

from core.errors import close_code
from core.i18n import language_from_scope
from core.net import scope_header
from core.sockets import SkipDatabaseCleanupMixin

from . import push
from .errors import LoginError
from .frames import EXPIRED_FRAME, status_frame
from .poller import get_poller
from .selectors import login_get_bound
from .services import BROWSER_COOKIE
from .store import PENDING

CLOSE_NORMAL = 1000


class LoginStatusConsumer(SkipDatabaseCleanupMixin, AsyncJsonWebsocketConsumer):
    """Sends `auth.status` pending (with expires_in), then exactly one terminal frame
    (confirmed / expired / error), then closes with 1000. A client that is not bound to the
    login (cookie or `?login_token=`) is accepted and closed with 4403, so it sees why."""

    # No channel layer: frames come through auth4app/push.py. With one, every socket would SUBSCRIBE
    # to a channel of its own on connect and UNSUBSCRIBE on close, one at a time through the layer's
    # per-process lock. An alias that is not configured gives None (channels.layers.get_channel_layer).
    channel_layer_alias = "auth4app-sockets-use-no-channel-layer"
    # It never touches the database (the login lives in the store): no message needs Channels'
    # database cleanup, a hop to the one thread that also runs Django's sync middleware (core.sockets).
    dispatch_with_database_cleanup = ()

    code_id: str | None = None
    attached = False  # listening through this process's push registry
    opened = False  # the first (pending) frame is out
    held: dict | None = None  # a terminal frame that came before the first one was out
    finished = False
    language = "en"  # of the handshake (core.i18n): error details are translated into it

    async def connect(self):
        self.code_id = self.scope["url_route"]["kwargs"]["code_id"]
        self.language = language_from_scope(self.scope)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        login_token = (query.get("login_token") or [None])[0]
        browser_key = parse_cookie(scope_header(self.scope, b"cookie")).get(BROWSER_COOKIE)
        try:
            await login_get_bound(code_id=self.code_id, login_token=login_token, browser_key=browser_key)
        except LoginError as exc:
            await self.accept()
            await self.close(code=close_code(exc))
            return
        await self.accept()
        # Listen before reading the state, so a result published in between is not missed; a
        # frame that arrives before our first one is held until it has been sent.
        push.attach(self.code_id, self)
        self.attached = True
        get_poller().follow(self.code_id)
        await push.ready()
        try:
            state = await login_get_bound(code_id=self.code_id, login_token=login_token, browser_key=browser_key)
        except LoginError:  # purged in between
            state = None
        first = status_frame(state) if state and state.status == PENDING else {"type": "auth.status", "status": PENDING, "expires_in": 0}
        await self.send_json(first)
        self.opened = True
        if state is None:
            self.held = self.held or dict(EXPIRED_FRAME)
        elif state.status != PENDING:
            self.held = self.held or status_frame(state)
        if self.held is not None:
            await self.deliver(self.held)

    async def deliver(self, frame: dict) -> None:
        """Send the terminal frame once and close (called by the push subscriber and the poller)."""
        if self.finished:
            return
        if not self.opened:  # our pending frame is not out yet
            self.held = self.held or frame
            return
        self.finished = True
        if frame.get("detail"):
            # One frame goes to every socket of the login; each writes its detail in its own language.
            with translation.override(self.language):
                frame = {**frame, "detail": translation.gettext(frame["detail"])}
        await self.send_json(frame)
        await self.close(code=CLOSE_NORMAL)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        # Anything clients send is answered with an error frame, never a crash on bad JSON.
        with translation.override(self.language):
            detail = translation.gettext("This socket only sends.")
        await self.send_json({"type": "error", "code": "unexpected_frame", "detail": detail})

    async def disconnect(self, code):
        if self.attached and push.detach(self.code_id, self):
            get_poller().unfollow(self.code_id)
