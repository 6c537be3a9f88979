"""The floor: a bare ASGI WebSocket broadcast app with no Django, no Channels, no database, no auth.

It speaks the subset of hotline's chat frames the chat scenario uses, so the very same clients drive it:
  {"type":"subscribe","room":R}                      -> {"type":"subscribed","room":R,"last_id":0}
  {"type":"message.send","room":R,"text","client_id"} -> {"type":"message.ack",...} to the sender and
                                                        {"type":"message.new","message":{...}} to every
                                                        socket subscribed to R (the sender's included)
With BARE_REDIS_URL set, every process publishes each message on one Redis pub/sub channel and delivers
what it receives to its local subscribers: the least work a multi-process broadcast can do. Without it,
delivery is within the process. Run it like the product: `daphne bench.bare_app:application` or
`uvicorn bench.bare_app:application`. Anything it is not told to do, it ignores.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections import defaultdict

REDIS_URL = os.environ.get("BARE_REDIS_URL", "")
CHANNEL = os.environ.get("BARE_CHANNEL", "ht-bench-bare")

rooms: dict[int, set] = defaultdict(set)  # room -> set of send callables
_ids = itertools.count(1)
_redis = None
_listener: asyncio.Task | None = None


async def _deliver(message: dict) -> None:
    frame = {"type": "websocket.send", "text": json.dumps({"type": "message.new", "message": message})}
    for send in list(rooms.get(message["room"], ())):
        try:
            await send(frame)
        except Exception:  # a socket that went away is dropped at its disconnect
            pass


async def _listen() -> None:
    pubsub = _redis.pubsub()
    await pubsub.subscribe(CHANNEL)
    async for item in pubsub.listen():
        if item.get("type") == "message":
            await _deliver(json.loads(item["data"]))


async def _publish(message: dict) -> None:
    global _redis, _listener
    if REDIS_URL:
        await _redis.publish(CHANNEL, json.dumps(message))
    else:
        await _deliver(message)


async def _ensure_redis() -> None:
    global _redis, _listener
    if REDIS_URL and _redis is None:
        import redis.asyncio as redis

        # redis-py 8 pools stop at 100 connections and then raise (see ../shared/REALTIME.md): one
        # publish per message in flight needs more under a burst.
        _redis = redis.Redis.from_url(REDIS_URL, max_connections=2000, socket_timeout=15)
        _listener = asyncio.create_task(_listen())
        await asyncio.sleep(0.05)


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"bare\n"})
        return
    if scope["type"] != "websocket":
        return
    await _ensure_redis()
    joined: set[int] = set()
    query = dict(part.partition("=")[::2] for part in scope.get("query_string", b"").decode().split("&") if part)
    sender = {"id": int(query["user"])} if query.get("user", "").isdigit() else None
    try:
        while True:
            event = await receive()
            if event["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
            elif event["type"] == "websocket.disconnect":
                break
            elif event["type"] == "websocket.receive" and event.get("text"):
                try:
                    frame = json.loads(event["text"])
                    room = int(frame.get("room", 0))
                except (ValueError, TypeError):
                    continue
                if frame.get("type") == "subscribe":
                    rooms[room].add(send)
                    joined.add(room)
                    await send({"type": "websocket.send",
                                "text": json.dumps({"type": "subscribed", "room": room, "last_id": 0})})
                elif frame.get("type") == "message.send":
                    message = {"id": next(_ids), "room": room, "text": frame.get("text", ""),
                               "client_id": frame.get("client_id"), "sender": sender}
                    await send({"type": "websocket.send", "text": json.dumps(
                        {"type": "message.ack", "client_id": message["client_id"], "message": message})})
                    await _publish(message)
    finally:
        for room in joined:
            rooms[room].discard(send)
