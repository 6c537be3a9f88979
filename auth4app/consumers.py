"""`/ws/auth/<code_id>/`: the live status of one auth4app login, pushed the moment a server learns it."""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.consumer import get_handler_name
from django.http.cookie import parse_cookie

from core.net import scope_header

from .errors import LoginError
from .poller import get_poller
from .selectors import login_get_bound, status_frame
from .services import BROWSER_COOKIE, login_group
from .store import PENDING

CLOSE_NORMAL = 1000


class LoginStatusConsumer(AsyncJsonWebsocketConsumer):
    """Sends `auth.status` pending (with expires_in), then exactly one terminal frame
    (confirmed / expired / error), then closes with 1000. A client that is not bound to the
    login (cookie or `?login_token=`) is accepted and closed with 4403, so it sees why."""

    code_id: str | None = None
    group: str | None = None
    finished = False

    async def dispatch(self, message):
        # Channels closes stale database connections before every message, a hop to the one
        # thread that also runs Django's sync middleware. This consumer never touches the
        # database (the login lives in the store), so its connect, push and close skip it.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        self.code_id = self.scope["url_route"]["kwargs"]["code_id"]
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        login_token = (query.get("login_token") or [None])[0]
        browser_key = parse_cookie(scope_header(self.scope, b"cookie")).get(BROWSER_COOKIE)
        try:
            await login_get_bound(code_id=self.code_id, login_token=login_token, browser_key=browser_key)
        except LoginError as exc:
            await self.accept()
            await self.close(code=4000 + exc.status)
            return
        # Join before reading the state, so a result published in between is not missed.
        self.group = login_group(self.code_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        try:
            state = await login_get_bound(code_id=self.code_id, login_token=login_token, browser_key=browser_key)
        except LoginError:  # purged in between
            await self.deliver({"type": "auth.status", "status": "expired"})
            return
        first = status_frame(state) if state.status == PENDING else {"type": "auth.status", "status": PENDING, "expires_in": 0}
        await self.send_json(first)
        if state.status != PENDING:
            await self.deliver(status_frame(state))
            return
        get_poller().attach(self.code_id, self)

    async def deliver(self, frame: dict) -> None:
        """Send the terminal frame once and close (called by the group event and by the poller)."""
        if self.finished:
            return
        self.finished = True
        await self.send_json(frame)
        await self.close(code=CLOSE_NORMAL)

    async def auth_status(self, event):
        await self.deliver(event["frame"])

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        # Anything clients send is answered with an error frame, never a crash on bad JSON.
        await self.send_json({"type": "error", "code": "unexpected_frame", "detail": "This socket only sends."})

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            get_poller().detach(self.code_id, self)
