"""Scenario `auth_push`: upstream confirmation (auth4app) -> WebSocket push, beside 3-second polling.

1. L logins start through `POST /proxy/auth/code` against a fake auth4app (bench/fake_auth4app.py, its
   own uvicorn process on 127.0.0.1); each login has T tabs, each a socket on `/ws/auth/<code_id>/`
   (`?login_token=`, spread over the server processes), all waiting for the `pending` frame.
   A sample of logins also has a "seed browser" polling `POST /proxy/auth/result` every 3 s, as seed
   000's page does.
2. After a few poll intervals the bench flips all L logins to confirmed at the fake at once (a burst).
3. Measured: delay from the poll that saw the confirmation (the fake records when a `code/result` first
   answered auth=true) to each tab's `confirmed` frame, and from the flip itself; confirmations
   pushed per second; pushes delivered vs expected (L x T, none lost, none twice); upstream
   `code/result` calls per login; and for the polling sample the delay the 3-second poll gives and the
   upstream calls the seed would have made (it proxied every poll of every tab upstream).
Target (issue 5): 1,000 logins confirmed/s with push p99 < 50 ms after the poll that saw them, none lost.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import time
from collections import Counter

import httpx

from bench import clients
from bench.harness import ClientPool, CpuMeter, Report, ServerGroup, latency_summary

SCENARIO = "auth_push"
KINDS = ("hotline",)  # the peer has no auth4app login, the floor no login at all
SEED_POLL_SECONDS = 3.0
POLL_INTERVAL = 1.0
REOPEN_SECONDS = 1.0  # as hotline's login page waits before reopening a dropped socket


def sizes(quick: bool) -> dict:
    if quick:
        return {"logins": 20, "tabs": 2, "polling": 6, "wait": 2.5, "start_seconds": 20}
    return {"logins": 1000, "tabs": 2, "polling": 150, "wait": 2.5, "start_seconds": 16}


def phones(run: int, count: int) -> list[str]:
    base = (run % 900) * 10_000
    return [f"+98936{(base + i) % 10_000_000:07d}" for i in range(count)]


# --- client side ----------------------------------------------------------------------------------

async def _watch(state: dict, record: dict, ws, reopen) -> None:
    """One tab: read frames until the terminal one. When the connection drops before it (no close
    frame), reopen once a second later, as hotline's login page does; the server answers a new
    socket with the login's current status, so the tab still gets its terminal frame."""
    got_terminal, reopened = False, False
    while True:
        try:
            async for raw in ws:
                now = time.monotonic()
                frame = json.loads(raw)
                if frame.get("type") != "auth.status":
                    continue
                if frame.get("status") == "pending":
                    record["pending"] += 1
                else:
                    got_terminal = True
                    record["terminal"].append([now, frame.get("status")])
        except Exception as exc:
            record.setdefault("errors", []).append(repr(exc)[:200])
        record["closes"].append(int(ws.close_code) if ws.close_code is not None else None)
        # Once per tab, and never while the harness is closing the sockets itself.
        if got_terminal or reopened or ws.close_code != 1006 or state.get("closing"):
            return
        reopened = True
        record["reopened"] = record.get("reopened", 0) + 1
        await asyncio.sleep(REOPEN_SECONDS)
        try:
            ws = await reopen()
        except Exception as exc:
            record.setdefault("errors", []).append(f"reopen: {exc!r}"[:200])
            return
        state["sockets"].append(ws)


async def _poll_like_seed(http: httpx.AsyncClient, url: str, login: dict, time_limit: float) -> None:
    """Seed 000's browser: POST /proxy/auth/result every 3 s until it says auth (random phase)."""
    deadline = time.monotonic() + time_limit
    await asyncio.sleep(random.uniform(0, SEED_POLL_SECONDS))
    while time.monotonic() < deadline:
        login["polls"] += 1
        try:
            response = await http.post(f"{url}/proxy/auth/result",
                                       json={"code_id": login["code_id"], "login_token": login["login_token"]})
            if response.status_code == 200 and response.json().get("auth"):
                login["poll_seen_at"] = time.monotonic()
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(SEED_POLL_SECONDS)


async def client_start(state: dict, *, urls: list[str], phones: list[str], tabs: int, polling: int,
                       time_limit: float) -> dict:
    from websockets.asyncio.client import connect

    http = clients.http_clients(state)
    logins: dict[str, dict] = state.setdefault("logins", {})
    sockets = state.setdefault("sockets", [])
    tasks = state.setdefault("tasks", [])
    state["closing"] = False  # the client processes serve every configuration in turn
    if "close" in state and "auth_close" not in state:
        previous = state["close"]

        async def close():
            await asyncio.gather(*(ws.close() for ws in state.get("sockets", [])), return_exceptions=True)
            await previous()

        state["close"] = close
        state["auth_close"] = True
    failures = {"code": 0, "socket": 0}
    started = time.monotonic()

    async def one(i: int) -> bool:
        url = urls[i % len(urls)]
        response = await http[i % len(http)].post(f"{url}/proxy/auth/code", json={"phone": phones[i]})
        if response.status_code != 200:
            failures["code"] += 1
            state.setdefault("code_errors", []).append(f"{response.status_code} {response.text[:120]}")
            return False
        body = response.json()
        login = {"code_id": body["code_id"], "login_token": body["login_token"], "pending": 0, "terminal": [],
                 "closes": [], "polls": 0, "poll_seen_at": None, "tabs": 0}
        logins[login["code_id"]] = login
        for tab in range(tabs):
            ws_base = urls[(i + tab) % len(urls)].replace("http://", "ws://")
            opener = functools.partial(
                connect, f"{ws_base}{body['ws_url']}?login_token={body['login_token']}", compression=None,
                open_timeout=30, ping_interval=None, close_timeout=2, user_agent_header=None,
                local_addr=(clients.source_address(i + tab), 0))
            try:
                ws = await opener()
            except Exception:
                failures["socket"] += 1
                continue
            login["tabs"] += 1
            sockets.append(ws)
            tasks.append(asyncio.create_task(_watch(state, login, ws, opener)))
        if i < polling:
            tasks.append(asyncio.create_task(_poll_like_seed(http[0], url, login, time_limit=120)))
        return True

    result = await clients.closed_loop(len(phones), 16, one, time_limit=time_limit)
    # every tab must have its `pending` frame before the bench flips anything
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(login["pending"] < login["tabs"] for login in logins.values()):
        await asyncio.sleep(0.05)
    return {"code_ids": list(logins), "elapsed": time.monotonic() - started, "ok": result["ok"],
            "failures": failures, "errors": state.get("code_errors", [])[:3],
            "pending": sum(login["pending"] for login in logins.values()), "tabs": sum(login["tabs"] for login in logins.values())}


async def client_collect(state: dict, *, time_limit: float) -> dict:
    logins = state.get("logins", {})
    deadline = time.monotonic() + time_limit
    while time.monotonic() < deadline:
        waiting_push = any(len(login["terminal"]) < login["tabs"] for login in logins.values())
        waiting_poll = any(login["polls"] and login["poll_seen_at"] is None for login in logins.values())
        if not waiting_push and not waiting_poll:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # a second terminal frame (a duplicate) would arrive now
    out = {code_id: {k: login[k] for k in ("terminal", "closes", "polls", "poll_seen_at", "tabs", "pending", "errors", "reopened") if k in login}
           for code_id, login in logins.items()}
    state["closing"] = True
    for ws in state.get("sockets", []):
        await ws.close()
    state["sockets"] = []
    state["logins"] = {}
    for task in state.get("tasks", []):
        task.cancel()
    state["tasks"] = []
    return out


# --- harness side ---------------------------------------------------------------------------------

def run(report: Report, backends, *, server: str, processes: int, quick: bool, pool: ClientPool, run_id: int,
        kinds=KINDS) -> None:
    size = sizes(quick)
    label = f"{server}/hotline"
    add = lambda metric, value, unit="", target="", note="", parts=None: report.add(  # noqa: E731
        SCENARIO, label, processes, metric, value, unit, target, note, parts)
    upstream = ServerGroup(backends, server="uvicorn", processes=1, app="bench.fake_auth4app:application",
                           worker=False, health="/bench/stats").start()
    env = {
        "AUTH4APP_API_URL": upstream.urls[0],
        "AUTH4APP_API_KEY": "bench-key",
        "AUTH4APP_POLL_INTERVAL": str(POLL_INTERVAL),
        "AUTH4APP_CODES_PER_IP_PER_HOUR": "1000000",
        "AUTH4APP_CODES_PER_NUMBER_PER_HOUR": "1000000",
        "LOG_LEVEL": "WARNING",
    }
    group = ServerGroup(backends, server=server, processes=processes, env=env).start()
    try:
        batch = phones(run_id, size["logins"])
        parts = [batch[i::pool.count] for i in range(pool.count)]
        polling = [len(p) * size["polling"] // max(len(batch), 1) for p in parts]
        meter = CpuMeter(group, pool).start()
        started = pool.call(client_start, [
            {"urls": group.urls, "phones": p, "tabs": size["tabs"], "polling": n,
             "time_limit": size["start_seconds"]}
            for p, n in zip(parts, polling)], timeout=200)
        code_ids = [c for s in started for c in s["code_ids"]]
        tabs = sum(s["tabs"] for s in started)
        cpu_start = (*meter.stop_per_item(len(code_ids)), meter.per)
        add("logins started/s", len(code_ids) / max(max(s["elapsed"] for s in started), 1e-6), "logins/s",
            note=f"{len(code_ids)} of {len(batch)} in {max(s['elapsed'] for s in started):.1f} s "
                 "(POST /proxy/auth/code + the tabs' sockets; time-bounded)")
        add("CPU per login started (whole machine)", cpu_start[0], "ms",
            note=f"POST /proxy/auth/code, {size['tabs']} sockets and the seed browsers' polls; {cpu_start[1]}",
            parts=cpu_start[2])
        failures = {k: sum(s["failures"][k] for s in started) for k in ("code", "socket")}
        if any(failures.values()):
            errors = [e for s in started for e in s["errors"]][:1]
            add("start failures", sum(failures.values()), "", "0", f"{failures} {errors}")
        time.sleep(size["wait"])  # the server polls upstream meanwhile, as it would while a person types
        meter = CpuMeter(group, pool).start()
        confirmed = httpx.post(upstream.urls[0] + "/bench/confirm", json={"code_ids": code_ids}, timeout=30).json()
        results: dict[str, dict] = {}
        for part in pool.call(client_collect, {"time_limit": 15 + 2 * POLL_INTERVAL}, timeout=60):
            results.update(part)
        cpu_confirm = (*meter.stop_per_item(confirmed["confirmed"]), meter.per)
        fake = httpx.post(upstream.urls[0] + "/bench/stats", json={"code_ids": code_ids}, timeout=30).json()
    finally:
        group.stop()
        upstream.stop()

    after_poll, after_flip, lost, dups, wrong, lifetimes, calls = [], [], 0, 0, 0, [], []
    push_times, lost_seen, dropped = [], [], 0
    seed_delay, seed_calls = [], []
    for code_id, r in results.items():
        f = fake["logins"].get(code_id, {})
        calls.append(f.get("result_calls", 0))
        if f.get("confirmed_at"):
            lifetimes.append(f["confirmed_at"] - f["created_at"])
        confirmed_frames = [t for t, status in r["terminal"] if status == "confirmed"]
        wrong += len(r["terminal"]) - len(confirmed_frames)
        dropped += r.get("reopened", 0)
        if r["tabs"] > len(r["terminal"]):
            lost += r["tabs"] - len(r["terminal"])
            lost_seen.append(f"{code_id[:8]}: pending {r['pending']}/{r['tabs']}, closes {r['closes']}, "
                             f"seen upstream {bool(f.get('seen_at'))}, errors {(r.get('errors') or [])[:1]}")
        dups += max(0, len(r["terminal"]) - r["tabs"])
        for t in confirmed_frames:
            push_times.append(t)
            if f.get("seen_at"):
                after_poll.append(t - f["seen_at"])
            if f.get("confirmed_at"):
                after_flip.append(t - f["confirmed_at"])
        if r["polls"]:
            if r["poll_seen_at"] and f.get("confirmed_at"):
                seed_delay.append(r["poll_seen_at"] - f["confirmed_at"])
            # the seed proxied every poll of every tab to upstream
            seed_calls.append(r["polls"] * size["tabs"])
    flip_at = min((f["confirmed_at"] for f in fake["logins"].values() if f.get("confirmed_at")), default=None)
    if push_times and flip_at:
        span = max(push_times) - flip_at
        add("confirmations pushed/s", confirmed["confirmed"] / max(span, 1e-6), "logins/s", "1,000/s",
            f"{confirmed['confirmed']} confirmed at once; last push {span:.2f} s after")
    add("CPU per confirmation (whole machine)", cpu_confirm[0], "ms",
        note=f"from the flip until every tab has its frame and every seed browser its answer: the server's "
             f"polls, {size['tabs']} pushes and closes per login, the seed browsers' polls; the fake "
             f"upstream not counted; {cpu_confirm[1]}", parts=cpu_confirm[2])
    s = latency_summary(after_poll)
    add("push after the poll that saw it p50", s["p50_ms"], "ms")
    add("push after the poll that saw it p99", s["p99_ms"], "ms", "< 50 ms")
    s = latency_summary(after_flip)
    add("push after upstream confirmation p50", s["p50_ms"], "ms", note=f"poll interval {POLL_INTERVAL:g} s")
    add("push after upstream confirmation p99", s["p99_ms"], "ms")
    add("pushes delivered / expected", f"{len(push_times)}/{tabs}", "frames", "all")
    add("pushes lost", lost, "frames", "0", "; ".join(lost_seen[:3]))
    add("sockets dropped before their terminal frame", dropped, "sockets", "",
        "closed without a close frame (1006); reopened 1 s later as the login page does, and counted lost "
        "above only if the reopened socket missed the frame too")
    add("pushes duplicated", dups, "frames", "0")
    if wrong:
        statuses = Counter(status for r in results.values() for _, status in r["terminal"] if status != "confirmed")
        add("terminal frames not 'confirmed'", wrong, "frames", "0", ", ".join(f"{k} {v}" for k, v in statuses.items()))
    mean_life = sum(lifetimes) / max(len(lifetimes), 1)
    add("upstream code/result calls per login", sum(calls) / max(len(calls), 1), "calls",
        f"<= {mean_life / POLL_INTERVAL + 1:.1f}", f"{size['tabs']} tabs, login open {mean_life:.1f} s")
    s = latency_summary(seed_delay)
    add("seed 3 s polling: delay p50", s["p50_ms"], "ms", note=f"{len(seed_delay)} polling browsers")
    add("seed 3 s polling: delay p99", s["p99_ms"], "ms")
    if seed_calls:
        add("seed 3 s polling: upstream calls per login", sum(seed_calls) / len(seed_calls), "calls",
            note=f"every poll of each of {size['tabs']} tabs went upstream")


if __name__ == "__main__":
    from bench.__main__ import main

    raise SystemExit(main(["auth_push", *__import__("sys").argv[1:]]))
