"""The shapes of chat objects in API answers and frames (docs/websocket.md), and the channel-layer
group names. Shared by chat.selectors (reads) and chat.services (writes and events)."""

from __future__ import annotations

import json

from accounts.models import User
from accounts.profiles import public_user

from .models import Message


def room_group(room_id: int) -> str:
    """The one channel-layer group of a room: every subscribed socket, on every process."""
    return f"chat.room.{room_id}"


def user_group(user_id: int) -> str:
    """Every chat socket of one user, on every process: the live room list, invitations, profiles."""
    return f"chat.user.{user_id}"


def iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def member_payload(user: User, *, with_number: bool = False) -> dict:
    """Another user as a room member. `with_number` only for the direct room its viewer opened
    by typing that number (Membership.peer_number_known)."""
    payload = public_user(user)
    if with_number:
        payload["mobile_number"] = str(user.mobile_number)
    return payload


def message_payload(message: Message, sender: User | None = None) -> dict:
    if message.deleted_at is not None:
        # The tombstone: the id stays in the sequence, so a resume by `after` misses nothing.
        return {"id": message.id, "room": message.room_id, "deleted": True}
    return {
        "id": message.id,
        "room": message.room_id,
        "sender": public_user(sender or message.sender),
        "text": message.text,
        "created_at": iso(message.created_at),
        "client_id": message.client_id,
        "edited_at": iso(message.edited_at),
    }


def frame(body: dict) -> str:
    # Encoded once by the publisher; every socket sends the same text (no per-socket json.dumps).
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
