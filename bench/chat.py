"""Scenario `chat`: WebSocket chat under load, hotline beside the peer and the bare ASGI broadcast app
(the floor).

For each ASGI server and process count, against hotline, the peer (django-chelseru, bench/peer.py) and
bench/bare_app.py run the same way (same server, same processes, same clients):
1. connect: one authenticated socket per user as fast as the server accepts them -> connects/s,
   failures, CPU per connect. hotline: `/ws/chat/?ticket=...` (tickets issued just before each batch
   because they live 30 s); the peer: `/ws/chat/<room>/?token=<access>`, a socket joins one room, so
   each user's socket is on its direct room (the peer's rooms and tokens come from its own ORM,
   `manage.py bench_world`); the floor: `/ws/chat/?user=<id>`.
2. hold: server RSS growth / sockets -> bytes per idle authenticated socket (2,000 asked).
3. 1:1 (hotline and the floor): 1,000 of those users in 500 direct rooms, each subscribed to its room;
   messages paced at 500/s in total for 2 s; every message is expected on both members' sockets (the
   sender's too) -> p50/p99 end-to-end (send -> the peer's `message.new`), lost and duplicated.
4. fan-out 1000 (hotline and the floor): the same 1,000 users subscribed to one group room; one member
   sends a message every 0.5 s -> p50/p99 from send to each member's `message.new`.
5. group fan-out (all three): a 20-member room at 200 messages/s and a 200-member room at 100/s, for
   3 s each, the members taking turns to send -> deliveries/s, p50/p99, lost, duplicated, CPU per
   delivery. hotline's and the floor's members subscribe their socket to the room; the peer's open one
   more socket each, on the room (its only way to be in two rooms).
Latency uses time.monotonic(), one system-wide clock on Linux, so sender and receiver may be different
client processes. The send limit and the per-user look-up and room limits are raised for the run; nothing else.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter

from bench import clients
from bench.harness import KIND_APPS, ClientPool, CpuMeter, Report, ServerGroup, django_setup, latency_summary

SCENARIO = "chat"
KINDS = ("hotline", "peer", "bare")
# The send limit and the per-user look-up and room limits are raised for the run (each bench user
# opens one room by number); nothing else.
SERVER_ENV = {"CHAT_MESSAGES_PER_WINDOW": "1000000", "CHAT_NUMBER_LOOKUPS_PER_HOUR": "1000000",
              "CHAT_ROOMS_PER_HOUR": "1000000", "LOG_LEVEL": "WARNING"}
NUMBER_BASE = "+98935"  # the chat bench's users: +98935 0000000 ...


def sizes(quick: bool) -> dict:
    chosen = _sizes(quick)
    # BENCH_CHAT_SIZES='{"hold": 5000}' overrides any count (to explore; the defaults are what docs report)
    chosen.update(json.loads(os.environ.get("BENCH_CHAT_SIZES", "{}")))
    return chosen


def _sizes(quick: bool) -> dict:
    if quick:
        return {"hold": 200, "chat_users": 100, "rate": 100, "seconds": 2.0, "fanout_messages": 4,
                "fanout_gap": 0.3, "batch": 200, "connect_seconds": 20,
                "subscribe_seconds": 30, "settle_seconds": 20,
                "groups": [[5, 40], [20, 20]], "group_seconds": 1.5, "group_settle_seconds": 20}
    # Every phase is bounded in time as well as count: connecting stops after `connect_seconds`
    # (the sockets held are then fewer than asked, and the table says so). `groups`: [members,
    # messages/s] of each group fan-out (issue 19's rows), their members the users after the
    # `chat_users`. To try the 18,000-socket target:
    # BENCH_CHAT_SIZES='{"hold": 18000, "connect_seconds": 150}'.
    return {"hold": 2000, "chat_users": 1000, "rate": 500, "seconds": 2.0,
            "fanout_messages": 6, "fanout_gap": 0.5, "batch": 2000, "connect_seconds": 20,
            "subscribe_seconds": 30, "settle_seconds": 12,
            "groups": [[20, 200], [200, 100]], "group_seconds": 3.0, "group_settle_seconds": 30}


def group_members(size: dict, user_ids: list[int]) -> list[list[int]]:
    """The members of each group fan-out room: consecutive blocks of the users after the chat users."""
    out, start = [], size["chat_users"]
    for members, _ in size["groups"]:
        out.append(user_ids[start: start + members])
        start += members
    if start > size["hold"]:
        raise ValueError(f"the group fan-outs need {start} users; hold is {size['hold']}")
    return out


# --- client side (runs in the client processes) ---------------------------------------------------

class Sock:
    __slots__ = ("ws", "user", "room", "seen", "reader", "acks", "subscribed")

    def __init__(self, ws, user: int, room: int | None = None):
        self.ws = ws
        self.user = user
        self.room = room  # the peer's sockets are each on one room; hotline's and the floor's on none
        self.seen: set[str] = set()
        self.reader = None
        self.acks = 0
        self.subscribed: dict[int, asyncio.Event] = {}


def _stats(state: dict) -> dict:
    if "stats" not in state:
        state["stats"] = {"latencies": {}, "delivered": {}, "dups": Counter(), "acks": Counter(), "errors": Counter(),
                          "own": Counter(), "last": {}, "types": Counter()}
    return state["stats"]


async def _read(state: dict, sock: Sock) -> None:
    stats = _stats(state)
    try:
        async for raw in sock.ws:
            now = time.monotonic()
            frame = json.loads(raw)
            kind = frame.get("type")
            stats["types"][kind] += 1
            if kind in ("message.new", "chat_message"):
                # hotline and the floor: {"type": "message.new", "message": {"text", "client_id", "sender"}};
                # the peer: {"type": "chat_message", "message": "<text>", "sender": {"id"}, ...}
                message = frame["message"] if kind == "message.new" else {**frame, "text": frame.get("message")}
                phase, sent_at, text_id = parse_text(message.get("text") or "")
                client_id = message.get("client_id") or text_id or str(message.get("id"))
                if client_id in sock.seen:
                    stats["dups"][phase] += 1
                    continue
                sock.seen.add(client_id)
                delivered = stats["delivered"].setdefault(phase, Counter())
                delivered[client_id] += 1
                stats["last"][phase] = now
                sender = (message.get("sender") or {}).get("id") if isinstance(message.get("sender"), dict) else None
                if sender != sock.user and sent_at:
                    stats["latencies"].setdefault(phase, []).append(now - float(sent_at))
                else:
                    stats["own"][phase] += 1
            elif kind == "message.ack":
                phase = ((frame.get("message") or {}).get("text") or "").partition("|")[0]
                stats["acks"][phase] += 1
            elif kind == state.get("subscribe_done", "subscribed"):
                event = sock.subscribed.get(int(frame.get("room", 0)))
                if event:
                    event.set()
            elif kind == "error":
                stats["errors"][frame.get("code", "?")] += 1
    except Exception:  # closed: the harness counts what arrived
        pass


def message_text(phase: str, client_id: str) -> str:
    """What a bench message says: its phase, when it was sent and its id (the peer's frames carry no
    client id, so the text does)."""
    return f"{phase}|{time.monotonic():.6f}|{client_id}"


def parse_text(text: str) -> tuple[str, str, str]:
    """phase, sent_at, client_id of a bench message's text ("" where missing)."""
    parts = text.split("|")
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


async def client_connect(state: dict, *, targets: list[list], time_limit: float, concurrency: int = 24) -> dict:
    """targets: [url, user_id] or [url, user_id, room] per socket (the peer's sockets are on a room, which
    counts as subscribed once the handshake is done). Returns elapsed, ok, failed and close codes seen."""
    from websockets.asyncio.client import connect

    socks: list[Sock] = state.setdefault("socks", [])
    if "close" not in state:
        async def close_all():
            await asyncio.gather(*(s.ws.close() for s in state.get("socks", [])), return_exceptions=True)
        state["close"] = close_all
    gate = asyncio.Semaphore(concurrency)
    failures: Counter = Counter()
    start = time.monotonic()
    deadline = start + time_limit

    async def one(n: int, url: str, user: int, room: int | None = None) -> None:
        async with gate:
            if time.monotonic() > deadline:
                failures["time limit"] += 1
                return
            try:
                ws = await connect(url, compression=None, open_timeout=30, ping_interval=None, close_timeout=2,
                                   max_queue=None, user_agent_header=None,
                                   local_addr=(clients.source_address(state["index"] * 7 + n), 0))
            except Exception as exc:
                failures[type(exc).__name__] += 1
                return
            sock = Sock(ws, user, room)
            if room is not None:
                sock.subscribed[room] = asyncio.Event()
                sock.subscribed[room].set()
            sock.reader = asyncio.create_task(_read(state, sock))
            socks.append(sock)

    await asyncio.gather(*(one(n, *target) for n, target in enumerate(targets)))
    elapsed = time.monotonic() - start
    await asyncio.sleep(0.5)
    closed = Counter(str(s.ws.close_code) for s in socks if s.ws.close_code is not None)
    socks[:] = [s for s in socks if s.ws.close_code is None]  # refused ones (4401, 4429) are not held
    return {"elapsed": elapsed, "ok": len(targets) - sum(failures.values()), "failed": dict(failures),
            "closed": dict(closed), "open": sum(1 for s in socks if s.ws.close_code is None)}


async def client_subscribe(state: dict, *, rooms_by_user: dict, time_limit: float, done_frame: str) -> dict:
    """Each socket of a user in `rooms_by_user` subscribes to those rooms and waits for `done_frame`
    (hotline's last reply to a subscribe is `presence.state`; the bare app's is `subscribed`)."""
    state["subscribe_done"] = done_frame
    started = time.monotonic()
    waits = []
    for sock in state.get("socks", []):
        for room in rooms_by_user.get(str(sock.user), ()):
            sock.subscribed[room] = asyncio.Event()
            try:
                await sock.ws.send(json.dumps({"type": "subscribe", "room": room}))
            except Exception:  # closed by the server meanwhile: shows as a subscribe failure
                continue
            waits.append(sock.subscribed[room].wait())
    done = 0
    if waits:
        finished, _ = await asyncio.wait([asyncio.ensure_future(w) for w in waits], timeout=time_limit)
        done = len(finished)
    per_room = Counter(room for sock in state.get("socks", []) for room, event in sock.subscribed.items()
                       if event.is_set())
    return {"asked": len(waits), "subscribed": done, "rooms": {str(k): v for k, v in per_room.items()},
            "elapsed": time.monotonic() - started}


async def client_unsubscribe(state: dict, *, room: int) -> int:
    count = 0
    for sock in state.get("socks", []):
        if room in sock.subscribed:
            try:
                await sock.ws.send(json.dumps({"type": "unsubscribe", "room": room}))
                count += 1
            except Exception:
                pass
    return count


async def client_send(state: dict, *, phase: str, plan: list[list], rate: float, time_limit: float,
                      peer: bool = False) -> dict:
    """plan: [user_id, room] per message, sent from that user's socket (the peer: its socket on that
    room, as `{"message": text}`) at `rate`/s (open loop)."""
    by_user = {(sock.user, sock.room): sock for sock in state.get("socks", [])}
    sent: list[list] = []

    async def job(i: int) -> bool:
        user, room = plan[i]
        sock = by_user.get((user, room)) or by_user.get((user, None))
        if sock is None or sock.ws.close_code is not None:
            return False
        client_id = str(uuid.uuid4())
        text = message_text(phase, client_id)
        frame = {"message": text} if peer else {"type": "message.send", "room": room, "client_id": client_id,
                                                "text": text}
        try:
            await sock.ws.send(json.dumps(frame))
        except Exception:
            return False
        sent.append([client_id, room])
        return True

    started_at = time.monotonic()
    result = await clients.paced(len(plan), rate, job, time_limit=time_limit, max_inflight=10_000)
    return {"sent": sent, "elapsed": result["elapsed"], "failed": result["failed"] + result["not_started"],
            "started_at": started_at if plan else None}


async def client_collect(state: dict, *, phase: str) -> dict:
    stats = _stats(state)
    return {"latencies": stats["latencies"].pop(phase, []), "delivered": dict(stats["delivered"].pop(phase, {})),
            "dups": stats["dups"].pop(phase, 0), "acks": stats["acks"].pop(phase, 0),
            "own": stats["own"].pop(phase, 0), "last_at": stats["last"].pop(phase, None),
            "errors": dict(stats["errors"]), "types": dict(stats["types"]),
            "open": sum(1 for s in state.get("socks", []) if s.ws.close_code is None)}


async def client_users(state: dict) -> list[int]:
    return [s.user for s in state.get("socks", []) if s.ws.close_code is None]


async def client_close(state: dict) -> dict:
    socks = state.pop("socks", [])
    codes = Counter(str(s.ws.close_code) for s in socks if s.ws.close_code is not None)
    await asyncio.gather(*(s.ws.close() for s in socks), return_exceptions=True)
    for sock in socks:
        if sock.reader:
            sock.reader.cancel()
    state.pop("stats", None)
    return {"closed_by_server_before_end": dict(codes)}


# --- harness side: users, sessions, rooms ---------------------------------------------------------

GROUP_TITLE = "bench fan-out"


class World:
    """The chat bench's users (each with a login session), their access tokens, and the rooms."""

    def __init__(self, backends, count: int):
        django_setup(backends)
        from datetime import timedelta

        from django.utils import timezone

        from accounts.models import LoginSession, User

        numbers = [f"{NUMBER_BASE}{i:07d}" for i in range(count)]
        existing = set(User.objects.filter(mobile_number__in=numbers).values_list("mobile_number", flat=True))
        User.objects.bulk_create([User(mobile_number=n, password="!bench") for n in numbers if n not in existing],
                                 batch_size=2000)
        users = dict(User.objects.filter(mobile_number__in=numbers).values_list("mobile_number", "id"))
        self.user_ids = [users[n] for n in numbers]
        # One live login session per bench user, reused by later runs (so h_bench does not grow per run).
        self.session_of = dict(LoginSession.objects.filter(
            user_id__in=self.user_ids, user_agent="hotline-bench", revoked_at__isnull=True,
            expires_at__gt=timezone.now() + timedelta(hours=1),
        ).values_list("user_id", "id"))
        sessions = [LoginSession(user_id=uid, login_method="sms", ip="127.0.0.1", user_agent="hotline-bench")
                    for uid in self.user_ids if uid not in self.session_of]
        LoginSession.objects.bulk_create(sessions, batch_size=2000)
        self.session_of.update({s.user_id: s.id for s in sessions})
        self.direct_rooms: list[tuple[int, int, int]] = []  # (room, user_a, user_b)
        self.group_room: int | None = None
        self.small_groups: list[int] = []  # the group fan-out rooms, in the order of sizes()["groups"]
        # Each run makes its fan-out groups of the bench users; drop the earlier runs' ones (and their
        # messages) first. Left in place, every run added groups to each user, and a socket's connect
        # announces its presence to every room of its user: after 16 runs each handshake published 17
        # notices instead of 2, so runs were not measuring the same work.
        from chat.models import Membership, Room

        earlier = Membership.objects.filter(user_id__in=self.user_ids, room__kind=Room.Kind.GROUP,
                                            room__title__startswith=GROUP_TITLE).values_list("room_id", flat=True)
        Room.objects.filter(pk__in=set(earlier)).delete()

    def access_token(self, user_id: int) -> str:
        """An access token like the one login issues (it carries the session id `sid`)."""
        from rest_framework_simplejwt.tokens import AccessToken

        from accounts.models import User

        token = AccessToken.for_user(User(pk=user_id))
        token["sid"] = self.session_of[user_id]
        return str(token)

    def tickets(self, user_ids: list[int]) -> dict[int, str]:
        from accounts.ws import ws_ticket_issue

        return {uid: ws_ticket_issue(user_id=uid, session_id=self.session_of[uid]) for uid in user_ids}

    def make_rooms(self, base_url: str, chat_users: list[int], groups: list[list[int]]) -> None:
        """The direct rooms of consecutive pairs, opened through the REST API by number (as people
        open them), one group of all `chat_users` and one group of each member list in `groups`. The
        groups are written to the database directly: through the API their owner could only invite
        the others (they share no room with them), and acceptances are setup, not what the bench
        measures."""
        if self.group_room is not None:
            return
        import httpx

        from accounts.models import User
        from chat.models import Membership, Room

        numbers = dict(User.objects.filter(pk__in=chat_users).values_list("id", "mobile_number"))

        async def create() -> None:
            async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
                gate = asyncio.Semaphore(16)

                async def direct(a: int, b: int) -> None:
                    async with gate:
                        response = await http.post(
                            "/api/chat/rooms/", json={"kind": "direct", "mobile_number": str(numbers[b])},
                            headers={"Authorization": f"Bearer {self.access_token(a)}"})
                        response.raise_for_status()
                        self.direct_rooms.append((response.json()["id"], a, b))

                pairs = [(chat_users[i], chat_users[i + 1]) for i in range(0, len(chat_users) - 1, 2)]
                await asyncio.gather(*(direct(a, b) for a, b in pairs))

        asyncio.run(create())

        def group(members: list[int]) -> int:
            room = Room.objects.create(kind=Room.Kind.GROUP, title=f"{GROUP_TITLE} {len(members)}", owner_id=members[0])
            Membership.objects.bulk_create([Membership(room=room, user_id=uid) for uid in members], batch_size=2000)
            return room.pk

        self.group_room = group(chat_users)
        self.small_groups = [group(members) for members in groups]


_world: World | None = None


def world(backends, count: int) -> World:
    global _world
    if _world is None or len(_world.user_ids) < count:
        _world = World(backends, count)
    return _world


class PeerWorld:
    """The peer's users, access tokens and rooms, made through its ORM (`manage.py bench_world`, run
    with its virtualenv): a direct room per pair of users, which their sockets join, and the group
    fan-out rooms. Made afresh for each configuration (earlier runs' rooms and messages deleted)."""

    def __init__(self, backends, size: dict):
        from bench import peer

        members = [m for m, _ in size["groups"]]
        offsets = [size["chat_users"] + sum(members[:i]) for i in range(len(members))]
        made = peer.prepare(backends).world(size["hold"], list(zip(members, offsets)))
        self.user_ids: list[int] = made["users"]
        self.token_of = dict(zip(made["users"], made["tokens"]))
        self.room_of: dict[int, int] = {}
        for room, a, b in made["direct"]:
            self.room_of[a] = self.room_of[b] = room
        self.small_groups = [made["groups"][str(m)] for m in members]


# --- harness side: one configuration --------------------------------------------------------------

def _connect(pool: ClientPool, group: ServerGroup, kind: str, users: list[int], size: dict, address,
             tickets=None) -> dict:
    """Connect one socket per user in batches, bounded in time (hotline's tickets live 30 s, so its
    batches are sized to connect in ~10 s at the rate seen so far). `address(uid)` is the socket's path
    and query and its room (or None); `tickets(batch)` issues hotline's tickets just before a batch."""
    connected, elapsed, failed, closed, not_tried = 0, 0.0, Counter(), Counter(), 0
    start, batch_size = 0, 500 if kind == "hotline" else size["batch"]
    while start < len(users):
        batch = users[start: start + batch_size]
        start += len(batch)
        budget = min(15.0, size["connect_seconds"] - elapsed)
        if budget < 1:
            not_tried += len(batch)
            continue
        issued = tickets(batch) if tickets else {}
        per_client = [[] for _ in range(pool.count)]
        for n, uid in enumerate(batch):
            path, room = address(uid, issued)
            per_client[n % pool.count].append([group.ws_urls[n % len(group.ws_urls)] + path, uid, room])
        results = pool.call(client_connect, [{"targets": t, "time_limit": budget} for t in per_client],
                            timeout=budget + 60)
        took = max(r["elapsed"] for r in results)
        elapsed += took
        batch_size = max(200, min(size["batch"], int(sum(r["ok"] for r in results) / max(took, 0.1) * 10)))
        batch_size -= batch_size % pool.count
        for r in results:
            connected += r["ok"]
            not_tried += r["failed"].pop("time limit", 0)
            failed.update(r["failed"])
            closed.update(r["closed"])
    return {"connected": connected, "elapsed": elapsed, "failed": failed, "closed": closed, "not_tried": not_tried}


def _measure(report: Report, pool: ClientPool, group: ServerGroup, kind: str, processes: int, quick: bool,
             w, size: dict) -> None:
    """One kind under one server and process count: connect, hold, then the phases that apply to it."""
    label = group.label
    add = lambda metric, value, unit="", target="", note="", parts=None: report.add(  # noqa: E731
        SCENARIO, label, processes, metric, value, unit, target, note, parts)
    hold_users = w.user_ids[: size["hold"]]
    if kind == "peer":  # a peer socket needs a room: an odd last user has no pair
        hold_users = [uid for uid in hold_users if uid in w.room_of]
    chat_users = w.user_ids[: size["chat_users"]]
    members_of = group_members(size, w.user_ids)
    if kind == "hotline":
        w.make_rooms(group.urls[0], chat_users, members_of)
    time.sleep(1.0)
    baseline = group.rss_bytes()

    # 1-2. connect and hold
    if kind == "hotline":
        def address(uid, issued):
            return f"/ws/chat/?ticket={issued[uid]}", None
    elif kind == "peer":
        def address(uid, issued):
            return f"/ws/chat/{w.room_of[uid]}/?token={w.token_of[uid]}", w.room_of[uid]
    else:
        def address(uid, issued):
            return f"/ws/chat/?user={uid}", None
    meter = CpuMeter(group, pool).start()
    c = _connect(pool, group, kind, hold_users, size, address, w.tickets if kind == "hotline" else None)
    add("connects/s", c["connected"] / max(c["elapsed"], 1e-6), "conn/s", "1,000/s",
        f"{c['connected']:,} in {c['elapsed']:.1f} s"
        + (f"; {c['not_tried']:,} not tried (time bound)" if c["not_tried"] else ""))
    _cpu_row(add, "connect", meter, c["connected"])
    add("connect failures", sum(c["failed"].values()) + sum(c["closed"].values()), "sockets", "0",
        ", ".join(f"{k} {v}" for k, v in {**c["failed"], **{f'closed {k}': v for k, v in c["closed"].items()}}.items()))
    time.sleep(3.0)
    held = sum(r["open"] for r in pool.call(client_collect, {"phase": "none"}))
    rss = group.rss_bytes()
    add("sockets held", held, "sockets", "18,000" if not quick else "", f"of {len(hold_users):,} asked")
    add("RSS per socket", (rss - baseline) / max(held, 1) / 1024, "KiB", "< 32 KiB",
        f"server RSS {baseline / 2**20:.0f} -> {rss / 2**20:.0f} MiB")
    owner = {uid: n for n, users in enumerate(pool.call(client_users)) for uid in users}  # who holds each user

    if kind != "peer":  # the peer's 1:1 and 1,000-member rows are not measured (issue 19's table)
        _direct_and_fanout(add, pool, group, kind, quick, w, size, chat_users, owner)
    _group_fanouts(add, pool, group, kind, w, size, members_of, owner)

    closes = pool.call(client_close, timeout=120)
    early = Counter()
    for c in closes:
        early.update(c["closed_by_server_before_end"])
    if early:
        add("sockets closed by the server during the run", sum(early.values()), "sockets", "0",
            ", ".join(f"code {k}: {v}" for k, v in early.items()))


def _direct_and_fanout(add, pool: ClientPool, group: ServerGroup, kind: str, quick: bool, w, size: dict,
                       chat_users: list[int], owner: dict[int, int]) -> None:
    """hotline and the floor: subscribes, 1:1 in the direct rooms, fan-out to the 1,000-member room."""
    bare = kind == "bare"
    rooms_by_user: dict[str, list[int]] = {}
    if bare:
        direct = [(1_000_000 + n, a, b) for n, (a, b) in
                  enumerate(zip(chat_users[0::2], chat_users[1::2]))]
        group_room = 1
    else:
        direct = w.direct_rooms
        group_room = w.group_room
    for room, a, b in direct:
        rooms_by_user.setdefault(str(a), []).append(room)
        rooms_by_user.setdefault(str(b), []).append(room)
    for uid in chat_users:
        rooms_by_user.setdefault(str(uid), []).append(group_room)
    subs = pool.call(client_subscribe, {"rooms_by_user": rooms_by_user, "time_limit": size["subscribe_seconds"],
                                        "done_frame": "subscribed" if bare else "presence.state"}, timeout=150)
    asked, done = sum(s["asked"] for s in subs), sum(s["subscribed"] for s in subs)
    add("subscribes/s", done / max(max(s["elapsed"] for s in subs), 1e-6), "subs/s",
        note=f"{done:,} subscriptions (a direct room and the group each)")
    if done < asked:
        add("subscribe failures", asked - done, "subscriptions", "0")
    busy = _quiesce(group, size["settle_seconds"] * 2)
    if busy > 1.5:
        add("server busy after the subscribes", busy, "s", note="phases below start once it is idle (bounded wait)")
    # a message is expected once on every socket subscribed to its room (sockets that failed to connect
    # are counted as connect failures above, not as lost messages)
    subscribed = _subscribed(subs)
    total = int(size["rate"] * size["seconds"])
    plans = [[] for _ in range(pool.count)]
    for i in range(total):
        room, a, b = direct[i % len(direct)]
        sender = a if (i // len(direct)) % 2 == 0 else b
        if sender in owner:
            plans[owner[sender]].append([sender, room])
    meter = CpuMeter(group, pool).start()
    sent = pool.call(client_send, [{"phase": "direct", "plan": p, "rate": size["rate"] * len(p) / max(total, 1),
                                    "time_limit": size["seconds"] + 10} for p in plans], timeout=120)
    _settle(pool, "direct", expected=sum(subscribed[room] for s in sent for _, room in s["sent"]),
            timeout=size["settle_seconds"])
    got = pool.call(client_collect, {"phase": "direct"})
    _cpu_row(add, "1:1 message", meter, sum(len(x["sent"]) for x in sent))
    if os.environ.get("BENCH_DEBUG"):
        print("bench: frames seen by type", [g["types"] for g in got], file=sys.stderr)
    _delivery_rows(add, "1:1", sent, got, per_message=lambda room: subscribed[room],
                   seconds=max(s["elapsed"] for s in sent), target_rate=size["rate"], quick=quick,
                   p99_target="< 50 ms")

    _quiesce(group, size["settle_seconds"])
    # fan-out to the 1,000-member room, one message at a time
    members = len(chat_users)
    sender = next((uid for uid in chat_users if uid in owner), chat_users[0])
    plan = [[sender, group_room] for _ in range(size["fanout_messages"])]
    per_client = [[] for _ in range(pool.count)]
    per_client[owner.get(sender, 0)] = plan
    sent = pool.call(client_send, [{"phase": "fanout", "plan": p, "rate": 1 / size["fanout_gap"],
                                    "time_limit": size["fanout_messages"] * size["fanout_gap"] + 10}
                                   for p in per_client], timeout=120)
    _settle(pool, "fanout", expected=subscribed[group_room] * len(plan), timeout=size["settle_seconds"])
    got = pool.call(client_collect, {"phase": "fanout"})
    _delivery_rows(add, f"fan-out {members}", sent, got, per_message=lambda room: subscribed[room],
                   seconds=max(s["elapsed"] for s in sent), target_rate=None, quick=quick,
                   p99_target="<= 1.5x floor")
    # leave the big group so that the later phases and closing 1,000 sockets do not fan out 1,000
    # presence events each
    pool.call(client_unsubscribe, {"room": group_room})
    time.sleep(0.5)


def _group_fanouts(add, pool: ClientPool, group: ServerGroup, kind: str, w, size: dict,
                   members_of: list[list[int]], owner: dict[int, int]) -> None:
    """Each group fan-out room at its rate, its members taking turns to send (issue 19's rows)."""
    rooms = list(range(2_000_000, 2_000_000 + len(members_of))) if kind == "bare" else w.small_groups
    if kind == "peer":
        # the peer's socket is on one room: each member opens another one, on the group room, from the
        # client process that holds its first socket (so it can send from it)
        per_client = [[] for _ in range(pool.count)]
        for room, members in zip(rooms, members_of):
            for n, uid in enumerate(members):
                if uid in owner:
                    url = group.ws_urls[n % len(group.ws_urls)] + f"/ws/chat/{room}/?token={w.token_of[uid]}"
                    per_client[owner[uid]].append([url, uid, room])
        opened = pool.call(client_connect, [{"targets": t, "time_limit": size["connect_seconds"]}
                                            for t in per_client], timeout=size["connect_seconds"] + 60)
        failed = Counter()
        for r in opened:
            failed.update(r["failed"])
            failed.update({f"closed {k}": v for k, v in r["closed"].items()})
        if failed:
            add("group sockets failed", sum(failed.values()), "sockets", "0",
                "the members' second socket, on the group room: " + ", ".join(f"{k} {v}" for k, v in failed.items()))
        subs = pool.call(client_subscribe, {"rooms_by_user": {}, "time_limit": 1, "done_frame": "subscribed"})
    else:
        rooms_by_user = {str(uid): [room] for room, members in zip(rooms, members_of) for uid in members}
        subs = pool.call(client_subscribe, {"rooms_by_user": rooms_by_user, "time_limit": size["subscribe_seconds"],
                                            "done_frame": "subscribed" if kind == "bare" else "presence.state"},
                         timeout=150)
    subscribed = _subscribed(subs)
    for room, members, (count, rate) in zip(rooms, members_of, size["groups"]):
        _quiesce(group, size["settle_seconds"])
        name, phase = f"fan-out {count} at {rate}/s", f"group{count}"
        total = int(rate * size["group_seconds"])
        plans = [[] for _ in range(pool.count)]
        for i in range(total):
            sender = members[i % len(members)]
            if sender in owner:
                plans[owner[sender]].append([sender, room])
        meter = CpuMeter(group, pool).start()
        sent = pool.call(client_send, [{"phase": phase, "plan": p, "rate": rate * len(p) / max(total, 1),
                                        "time_limit": size["group_seconds"] + 10, "peer": kind == "peer"}
                                       for p in plans], timeout=120)
        expected = subscribed[room] * sum(len(s["sent"]) for s in sent)
        _settle(pool, phase, expected=expected, timeout=size["group_settle_seconds"])
        got = pool.call(client_collect, {"phase": phase})
        delivered = sum(sum(g["delivered"].values()) for g in got)
        _cpu_row(add, f"{name} delivery", meter, delivered)
        _delivery_rows(add, name, sent, got, per_message=lambda r: subscribed[r],
                       seconds=max(s["elapsed"] for s in sent), target_rate=rate, quick=True,
                       acks=kind != "peer", rate_target=">= 4x peer" if count >= 200 else "")


def _subscribed(subs: list[dict]) -> Counter:
    """Sockets subscribed to each room, over the client processes."""
    subscribed = Counter()
    for s in subs:
        subscribed.update({int(k): v for k, v in s["rooms"].items()})
    return subscribed


def _cpu_row(add, what: str, meter: CpuMeter, done: int) -> None:
    """CPU per connect or message of the whole machine (servers, worker, PostgreSQL, Redis, load
    generators), split by part: cores x 1000 ms / total bounds the rate the machine could ever reach."""
    total, note = meter.stop_per_item(done)
    add(f"CPU per {what} (whole machine)", total, "ms", note=note, parts=meter.per)


def _quiesce(group: ServerGroup, timeout: float) -> float:
    """Wait until the server processes are nearly idle (< 15 % of a core each over 0.5 s), at most
    `timeout` s, so a phase does not pay for the backlog of the one before; returns the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        before = group.cpu_seconds()
        time.sleep(0.5)
        if group.cpu_seconds() - before < 0.5 * 0.15 * max(1, group.processes):
            break
    return time.monotonic() - began


def _settle(pool: ClientPool, phase: str, *, expected: int, timeout: float, stall: float = 5.0) -> None:
    """Wait until `expected` frames of `phase` arrived, or none arrived for `stall` s (bounded by `timeout`)."""
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = sum(pool.call(_count_delivered, {"phase": phase}))
        if now >= expected:
            return
        if now != last:
            last, last_change = now, time.monotonic()
        elif now > 0 and time.monotonic() - last_change > stall:
            return
        time.sleep(0.2)


async def _count_delivered(state: dict, *, phase: str) -> int:
    return sum(_stats(state)["delivered"].get(phase, Counter()).values())


def _delivery_rows(add, name: str, sent: list[dict], got: list[dict], *, per_message, seconds: float,
                   target_rate, quick: bool, p99_target: str = "", rate_target: str = "",
                   acks: bool = True) -> None:
    expected = Counter()
    for s in sent:
        for client_id, room in s["sent"]:
            expected[client_id] += per_message(room)
    delivered = Counter()
    for g in got:
        delivered.update(g["delivered"])
    dups = sum(g["dups"] for g in got)
    lost = sum(max(0, n - delivered.get(cid, 0)) for cid, n in expected.items())
    latencies = [x for g in got for x in g["latencies"]]
    messages = sum(len(s["sent"]) for s in sent)
    summary = latency_summary(latencies)
    add(f"{name} messages/s", messages / max(seconds, 1e-6), "msg/s",
        f"{target_rate}/s" if target_rate and not quick else "")
    first = min((s["started_at"] for s in sent if s["started_at"]), default=None)
    last = max((g["last_at"] for g in got if g["last_at"]), default=None)
    if first and last:
        add(f"{name} deliveries/s", sum(delivered.values()) / max(last - first, 1e-6), "frames/s", rate_target,
            note="first send to last delivery")
    add(f"{name} p50", summary["p50_ms"], "ms")
    add(f"{name} p99", summary["p99_ms"], "ms", p99_target)
    own = sum(g["own"] for g in got)
    add(f"{name} delivered / expected", f"{sum(delivered.values())}/{sum(expected.values())}", "frames",
        note=f"{own} of them to the sender's own socket")
    add(f"{name} lost", lost, "frames", "0", "not delivered when deliveries stopped (bounded wait)" if lost else "")
    add(f"{name} duplicated", dups, "frames", "0")
    acked = sum(g["acks"] for g in got)
    if acks and acked != messages:
        add(f"{name} acks / sent", f"{acked}/{messages}", "frames", "equal")
    errors = Counter()
    for g in got:
        errors.update(g["errors"])
    if errors:
        add(f"{name} error frames", sum(errors.values()), "frames", "0", ", ".join(f"{k} {v}" for k, v in errors.items()))


def run(report: Report, backends, *, server: str, processes: int, quick: bool, pool: ClientPool, run_id: int,
        kinds: tuple[str, ...] | list[str] = ("hotline", "bare"), layer_redis: int = 1) -> None:
    """`layer_redis` > 1: hotline only, its channel layer sharded over that many Redis servers of the
    bench's own (CHANNEL_LAYER_REDIS_URLS); the rows say "+N layer Redis"."""
    if layer_redis > 1:
        from bench.harness import LayerRedisServers

        size = sizes(quick)
        with LayerRedisServers(layer_redis) as layer:
            env = {**SERVER_ENV, "CHANNEL_LAYER_REDIS_URLS": layer.urls}
            group = ServerGroup(backends, server=server, processes=processes, app=KIND_APPS["hotline"], env=env,
                                worker=False, label_suffix=f"+{layer_redis} layer Redis")
            hotline_world = world(backends, size["hold"])
            group.start()
            try:
                _measure(report, pool, group, "hotline", processes, quick, hotline_world, size)
            finally:
                group.stop()
        return
    size = sizes(quick)
    hotline_world = world(backends, size["hold"])
    for kind in [k for k in ("hotline", "peer", "bare") if k in kinds]:
        if kind == "peer":
            from bench import peer

            w = PeerWorld(backends, size)
            group = peer.prepare(backends).server_group(backends, server, processes)
        else:
            w = hotline_world
            env = dict(SERVER_ENV)
            if kind == "bare" and backends.redis_url and processes > 1:
                env["BARE_REDIS_URL"] = backends.redis_url
            group = ServerGroup(backends, server=server, processes=processes, app=KIND_APPS[kind], env=env,
                                worker=False)
        group.start()
        try:
            _measure(report, pool, group, kind, processes, quick, w, size)
        finally:
            group.stop()


if __name__ == "__main__":
    from bench.__main__ import main

    raise SystemExit(main(["chat", *__import__("sys").argv[1:]]))
