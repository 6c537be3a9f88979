from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator


@pytest.fixture
def asgi_app():
    from config.asgi import application

    return application


class ChatSocket:
    """A WebsocketCommunicator through the real middleware stack, with JSON helpers."""

    def __init__(self, app, query: str, headers=None):
        self.comm = WebsocketCommunicator(app, f"/ws/chat/?{query}", headers=headers or [])
        self.connected = False
        self.crashed = False  # set by a test that made the application end with an exception on purpose

    async def open(self):
        self.connected, _ = await self.comm.connect()
        return self

    async def send(self, frame) -> None:
        await self.comm.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = 2) -> dict:
        return json.loads(await self.comm.receive_from(timeout))

    async def recv_type(self, kind: str, timeout: float = 2) -> dict:
        """The next frame of `kind`, skipping others (presence and the like)."""
        while True:
            frame = await self.recv(timeout)
            if frame["type"] == kind:
                return frame

    async def expect_close(self, timeout: float = 2) -> int:
        while True:
            output = await self.comm.receive_output(timeout)
            if output["type"] == "websocket.close":
                return output.get("code")

    async def silent(self, timeout: float = 0.3) -> bool:
        return await self.comm.receive_nothing(timeout)

    async def close(self) -> None:
        if not self.crashed:
            await self.comm.disconnect()


@pytest.fixture
async def chat_socket(asgi_app, login):
    """`await chat_socket(user)` -> an open ChatSocket authenticated by a fresh ticket; all closed at the end."""
    from accounts.ws import ws_ticket_issue

    opened: list[ChatSocket] = []

    async def make(user=None, *, query: str | None = None, session=None, headers=None) -> ChatSocket:
        if query is None:
            result = session or await database_sync_to_async(login)(user)
            ticket = await database_sync_to_async(ws_ticket_issue)(user_id=result.user.pk, session_id=result.session.id)
            query = f"ticket={ticket}"
        sock = ChatSocket(asgi_app, query, headers)
        opened.append(sock)
        return await sock.open()

    yield make
    for sock in opened:
        await sock.close()


def make_group(owner, members, title: str = "t"):
    """A group of `owner` and `members` made directly in the database (as if every member had
    accepted an invitation): the services' own rules are tested where they are the subject."""
    from chat.models import Membership, Room

    room = Room.objects.create(kind=Room.Kind.GROUP, title=title, owner=owner)
    Membership.objects.bulk_create([Membership(room=room, user=user) for user in [owner, *members]])
    return room


def open_direct(user, other):
    """The direct room of two users, opened by `user` typing `other`'s number."""
    from chat import services

    room, _ = services.room_direct_open(user=user, mobile_number=str(other.mobile_number))
    return room
