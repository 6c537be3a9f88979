"""Fault drill (issue 21): a daphne process killed with kill -9 while half of the chat sockets are on it.

Two daphne processes on 127.0.0.1 sharing the test database and Redis. Users hold several sockets
each (DRILL_SOCKETS_PER_USER, spread over both processes, so that a user's dead and live sockets
together pass CHAT_MAX_SOCKETS_PER_USER), every socket subscribed to its user's group room. Messages
are sent through the REST API all the time. One process gets SIGKILL and is started again
RESTART_AFTER seconds later; every client whose socket died reconnects the way docs/websocket.md
tells clients to ("Reconnecting"): a random 0-2 s first, backoff with jitter after a failed try,
1-3 s after a 4429, a new ticket only after 4410/4401 or when the old one is near its expiry, each
try through "the load balancer" (either process), then `subscribe` with `after` = the last id seen.

What must hold (docs/reliability.md, "A web process killed with sockets open"): every socket back
(subscribed again) within BACK_WITHIN_SECONDS of the kill; every acknowledged message delivered to
every socket of its room after resume; no 4401 (a retry with a valid ticket is never told it is
unauthenticated); no HTTP 500 (tickets, messages, handshakes). Before the fix the dead process's
sockets counted toward the cap for their 60 s presence TTL: 4429 for a minute.

`HOTLINE_DRILL_SOCKETS` (default 200) changes the number of sockets; `./scripts/drill-process-kill`
runs it with 1,000.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import statistics
import time
from dataclasses import dataclass, field

import httpx
import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from tests.chat.conftest import make_group
from tests.processes import report

pytestmark = pytest.mark.django_db(transaction=True)

SOCKETS = int(os.environ.get("HOTLINE_DRILL_SOCKETS", "200"))
DRILL_SOCKETS_PER_USER = 8  # 4 on each process: 4 dead + 4 live + 4 reconnecting > 10
USERS_PER_ROOM = 5
BACK_WITHIN_SECONDS = 15
RESTART_AFTER = 2.0
SEND_EVERY = 0.1  # one message every 0.1 s, over all rooms
TICKET_FRESH_SECONDS = 20  # a ticket (valid 30 s) is reused for a retry while younger than this


@dataclass
class Figures:
    closes: dict[int, int] = field(default_factory=dict)  # close code -> count, after the kill
    handshake_failures: dict[str, int] = field(default_factory=dict)  # refused, HTTP status, timeout
    http_5xx: list[str] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)  # error frames by code
    tickets: int = 0
    sent: dict[int, list[int]] = field(default_factory=dict)  # room -> acknowledged message ids

    def close(self, code: int) -> None:
        self.closes[code] = self.closes.get(code, 0) + 1

    def failure(self, kind: str) -> None:
        self.handshake_failures[kind] = self.handshake_failures.get(kind, 0) + 1


class Balancer:
    """Either process, like a load balancer: a random start, then the other one on the next try."""

    def __init__(self, servers):
        self.servers = servers

    def pick(self, attempt: int, start: int):
        return self.servers[(start + attempt) % len(self.servers)]


class Client:
    """One socket of one user, following the reconnect rules of docs/websocket.md."""

    def __init__(self, user_access: str, room: int, balancer: Balancer, http: httpx.AsyncClient, figures: Figures,
                 kill_at: list[float]):
        self.access = user_access
        self.room = room
        self.balancer = balancer
        self.http = http
        self.figures = figures
        self.kill_at = kill_at  # [monotonic time of the kill] once it happened
        self.ticket: tuple[str, float] | None = None  # (ticket, fetched at)
        self.last_id = 0
        self.seen: list[int] = []
        self.subscribed = asyncio.Event()
        self.back_at: float | None = None  # first `subscribed` after the kill, on a new socket
        self.dropped = False  # this socket died with the killed process
        self.server_index: int | None = None
        self.stop = False
        self.ws = None
        self.history: list[tuple[float, str]] = []  # after the kill: (seconds since it, what happened)

    def note(self, what: str) -> None:
        if self.kill_at:
            self.history.append((round(time.monotonic() - self.kill_at[0], 1), what))

    async def _ticket(self, server) -> str:
        if self.ticket and time.monotonic() - self.ticket[1] < TICKET_FRESH_SECONDS:
            return self.ticket[0]
        response = await self.http.post(f"{server.url}/api/ws/ticket/", headers={"Authorization": f"Bearer {self.access}"})
        if response.status_code >= 500:
            self.figures.http_5xx.append(f"ticket {response.status_code}")
        response.raise_for_status()
        self.figures.tickets += 1
        self.ticket = (response.json()["ticket"], time.monotonic())
        return self.ticket[0]

    async def run(self, first_server: int) -> None:
        attempt, start, delay = 0, first_server, 0.0
        while not self.stop:
            if delay:
                await asyncio.sleep(delay)
            server = self.balancer.pick(attempt, start)
            attempt += 1
            self.note(f"try {self.balancer.servers.index(server)}")
            try:
                ticket = await self._ticket(server)
                self.ws = await connect(f"{server.ws_url}/ws/chat/?ticket={ticket}", compression=None,
                                        open_timeout=10, ping_interval=None, max_queue=None)
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status >= 500:
                    self.figures.http_5xx.append(f"handshake {status}")
                if self.kill_at:
                    self.figures.failure(f"HTTP {status}")
                    self.note(f"HTTP {status}")
                delay = self._backoff(attempt)
                continue
            except (OSError, httpx.HTTPError, asyncio.TimeoutError, TimeoutError, WebSocketException) as exc:
                # Refused (the process is down), reset, or the handshake timed out (autobahn drops a
                # handshake the application has not answered in 5 s): retry with the same ticket.
                if self.kill_at:
                    self.figures.failure(type(exc).__name__)
                    self.note(type(exc).__name__)
                refused = isinstance(exc, (ConnectionRefusedError, httpx.ConnectError))
                # A refused connection goes to the other process at once, as a load balancer does
                # (nginx's proxy_next_upstream); anything else waits.
                delay = 0.0 if refused and attempt % 2 else self._backoff(attempt)
                continue
            code = await self._serve(server)
            if self.stop:
                return
            if self.kill_at:
                self.figures.close(code)
                self.note(f"closed {code}")
            if code in (4410, 4401):
                self.ticket = None  # used, or refused: a new ticket, at once
                delay = 0.0
            elif code == 4429:
                delay = random.uniform(1, 3)  # the dead process's sockets stop counting within seconds
            else:  # the connection dropped (the process died) or another close: jitter, then reconnect
                attempt, start = 0, random.randrange(2)
                delay = random.uniform(0, 2)

    @staticmethod
    def _backoff(attempt: int) -> float:
        base = min(5.0, 0.5 * 2 ** min(attempt, 6))
        return random.uniform(base / 2, base)

    async def _serve(self, server) -> int:
        """Subscribe (resuming after the last id seen) and read until the socket ends; its close code."""
        ws = self.ws
        try:
            await ws.send(json.dumps({"type": "subscribe", "room": self.room, "after": self.last_id}))
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "message.new":
                    message_id = frame["message"]["id"]
                    self.seen.append(message_id)
                    self.last_id = max(self.last_id, message_id)
                elif frame["type"] == "error":
                    # `unavailable` (a backend failed, e.g. a pool exhausted by the storm) and
                    # `rate_limited`: the frame again after a short wait, as docs/websocket.md says.
                    self.figures.errors[frame["code"]] = self.figures.errors.get(frame["code"], 0) + 1
                    await asyncio.sleep(frame.get("retry_after") or random.uniform(0.5, 1))
                    await ws.send(json.dumps({"type": "subscribe", "room": self.room, "after": self.last_id}))
                elif frame["type"] == "subscribed":
                    self.ticket = None  # spent by the socket that opened
                    self.server_index = self.balancer.servers.index(server)
                    if self.kill_at and self.dropped and self.back_at is None:
                        self.back_at = time.monotonic()
                    self.subscribed.set()
        except ConnectionClosed:
            pass
        return ws.close_code if ws.close_code is not None else 1006

    async def close(self) -> None:
        self.stop = True
        if self.ws is not None:
            await self.ws.close()


async def _send_messages(rooms: dict[int, list[str]], balancer: Balancer, http: httpx.AsyncClient, figures: Figures,
                         stop: asyncio.Event) -> None:
    """Messages through the REST API, room after room, each by a member in turn, to either process."""
    turn = itertools.count()
    order = list(rooms)
    while not stop.is_set():
        i = next(turn)
        room = order[i % len(order)]
        access = rooms[room][(i // len(order)) % len(rooms[room])]
        client_id = f"drill-{i}"
        for attempt in range(20):  # a retry with the same client_id is idempotent
            server = balancer.pick(attempt, i)
            try:
                response = await http.post(f"{server.url}/api/chat/rooms/{room}/messages/",
                                           json={"text": f"m{i}", "client_id": client_id},
                                           headers={"Authorization": f"Bearer {access}"})
            except httpx.HTTPError:
                continue  # the killed process: the other one
            if response.status_code >= 500:
                figures.http_5xx.append(f"message {response.status_code}")
            if response.status_code in (200, 201):
                figures.sent.setdefault(room, []).append(response.json()["id"])
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(SEND_EVERY)


def _make_people(login, user_factory, users: int):
    """Users in groups of USERS_PER_ROOM, each group a room: [(access token, room id)]."""
    people = []
    everyone = [user_factory() for _ in range(users)]
    for start in range(0, users, USERS_PER_ROOM):
        members = everyone[start : start + USERS_PER_ROOM]
        room = make_group(members[0], members[1:])
        people += [(login(user).access, room.pk) for user in members]
    return people


async def test_a_process_killed_with_sockets_open_needs_no_one(start_server, login, user_factory):
    env = {"CHAT_MESSAGES_PER_WINDOW": "1000"}
    servers = [start_server(**env), start_server(**env)]
    victim = servers[1]
    users = SOCKETS // DRILL_SOCKETS_PER_USER
    people = await database_sync_to_async(_make_people)(login, user_factory, users)
    balancer, figures, kill_at = Balancer(servers), Figures(), []
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(timeout=15, limits=limits) as http:
        clients: list[Client] = []
        for access, room in people:
            clients += [Client(access, room, balancer, http, figures, kill_at) for _ in range(DRILL_SOCKETS_PER_USER)]
        # Socket j of each user opens on process j % 2: half of every user's sockets on the victim.
        tasks = []
        for start in range(0, len(clients), 20):
            batch = clients[start : start + 20]
            tasks += [asyncio.create_task(c.run(first_server=j % 2)) for j, c in enumerate(batch, start)]
            await asyncio.wait_for(asyncio.gather(*(c.subscribed.wait() for c in batch)), 60)
        on_victim = [c for c in clients if c.server_index == 1]
        assert len(on_victim) == len(clients) // 2

        rooms: dict[int, list[str]] = {}
        for access, room in people:
            rooms.setdefault(room, []).append(access)
        stop_sending = asyncio.Event()
        sender = asyncio.create_task(_send_messages(rooms, balancer, http, figures, stop_sending))
        await asyncio.sleep(2)

        for c in on_victim:
            c.dropped = True
        kill_at.append(time.monotonic())
        victim.kill()  # SIGKILL: no disconnect() runs, its presence entries stay behind
        await asyncio.sleep(RESTART_AFTER)
        await asyncio.to_thread(victim.start)

        deadline = kill_at[0] + BACK_WITHIN_SECONDS + 10
        while any(c.back_at is None for c in on_victim) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)  # messages keep coming after everyone is back
        stop_sending.set()
        await sender

        # Every acknowledged message reaches every socket of its room (after resume), within 15 s.
        def undelivered() -> int:
            return sum(len(set(figures.sent.get(c.room, [])) - set(c.seen)) for c in clients)

        settle = time.monotonic() + 15
        while undelivered() and time.monotonic() < settle:
            await asyncio.sleep(0.2)
        lost = undelivered()
        duplicated = sum(len(c.seen) - len(set(c.seen)) for c in clients)

        crashed = [task.exception() for task in tasks if task.done() and not task.cancelled() and task.exception()]
        for c in clients:
            await c.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    back = sorted(c.back_at - kill_at[0] for c in on_victim if c.back_at is not None)
    sent = sum(len(ids) for ids in figures.sent.values())
    expected = sum(len(figures.sent.get(c.room, [])) for c in clients)
    report(
        "process kill drill",
        sockets=len(clients), on_killed=len(on_victim), back=f"{len(back)}/{len(on_victim)}",
        back_within_s=f"{back[-1]:.1f}" if back else "-", p50_s=f"{statistics.median(back):.1f}" if back else "-",
        closes_4429=figures.closes.get(4429, 0), closes_4401=figures.closes.get(4401, 0),
        closes_4410=figures.closes.get(4410, 0), handshake_failures=figures.handshake_failures,
        tickets=figures.tickets, sent=sent, expected_deliveries=expected, delivered=expected - lost, lost=lost,
        duplicated=duplicated, http_5xx=len(figures.http_5xx), error_frames=figures.errors,
    )
    stuck = [c.history for c in on_victim if c.back_at is None]
    slowest = max(on_victim, key=lambda c: c.back_at or float("inf"))
    assert not crashed, f"a client crashed: {crashed[0]!r}"
    assert len(back) == len(on_victim), f"{len(on_victim) - len(back)} sockets never came back: {stuck}"
    assert back[-1] <= BACK_WITHIN_SECONDS, f"the last socket came back {back[-1]:.1f} s after the kill: {slowest.history}"
    assert lost == 0, f"{lost} acknowledged deliveries never arrived"
    assert figures.closes.get(4401, 0) == 0, "a retry with a valid ticket was told 4401"
    assert not figures.http_5xx, figures.http_5xx
    assert sent > 0 and all(ids for ids in figures.sent.values())
    for server in servers:
        assert "Traceback" not in server.log(), server.log()[-3000:]
