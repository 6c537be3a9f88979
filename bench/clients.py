"""Load-generator building blocks used inside client processes: paced (open-loop) and closed-loop
request runners, HTTP clients bound to loopback source addresses, WebSocket connects.

Latency is always measured from the moment a request was *due* (open loop), so a slow server cannot
hide its queueing by slowing the load down (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

from bench.harness import SOURCE_ADDRESSES


def source_address(n: int) -> str:
    return SOURCE_ADDRESSES[n % len(SOURCE_ADDRESSES)]


def http_clients(state: dict, count: int = 4, connections: int = 64):
    """httpx clients of this process, each bound to its own loopback source address."""
    import httpx

    if "http" not in state:
        clients = []
        for n in range(count):
            transport = httpx.AsyncHTTPTransport(local_address=source_address(state["index"] * count + n),
                                                 limits=httpx.Limits(max_connections=connections,
                                                                     max_keepalive_connections=connections))
            clients.append(httpx.AsyncClient(transport=transport, timeout=30))
        state["http"] = clients
        previous = state.get("close")

        async def close():
            for client in clients:
                await client.aclose()
            if previous:
                await previous()

        state["close"] = close
    return state["http"]


async def paced(count: int, rate: float, job: Callable[[int], Awaitable[bool]], *, time_limit: float,
                max_inflight: int = 512) -> dict:
    """Start `job(i)` for i < count at `rate` per second (open loop), at most `max_inflight` at once,
    never past `time_limit` seconds. Returns latencies (from when each was due), ok/failed counts."""
    latencies: list[float] = []
    counts = {"ok": 0, "failed": 0, "not_started": 0}
    gate = asyncio.Semaphore(max_inflight)
    start = time.monotonic()
    deadline = start + time_limit
    tasks = []

    async def one(i: int, due: float) -> None:
        try:
            ok = await asyncio.wait_for(job(i), timeout=max(0.1, deadline - time.monotonic()))
        except Exception:
            ok = False
        finally:
            gate.release()
        if ok:
            counts["ok"] += 1
            latencies.append(time.monotonic() - due)
        else:
            counts["failed"] += 1

    for i in range(count):
        due = start + i / rate if rate > 0 else time.monotonic()
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.monotonic() > deadline:
            counts["not_started"] = count - i
            break
        await gate.acquire()
        tasks.append(asyncio.create_task(one(i, due)))
    if tasks:
        await asyncio.wait(tasks, timeout=max(1.0, deadline - time.monotonic() + 5))
    return {"latencies": latencies, "elapsed": time.monotonic() - start, **counts}


async def closed_loop(count: int, concurrency: int, job: Callable[[int], Awaitable[bool]], *,
                      time_limit: float) -> dict:
    """Run `job(i)` for i < count with `concurrency` workers back to back (throughput)."""
    latencies: list[float] = []
    counts = {"ok": 0, "failed": 0, "not_started": 0}
    queue = iter(range(count))
    start = time.monotonic()
    deadline = start + time_limit

    async def worker() -> None:
        for i in queue:
            if time.monotonic() > deadline:
                counts["not_started"] += 1
                continue
            begun = time.monotonic()
            try:
                ok = await asyncio.wait_for(job(i), timeout=max(0.1, deadline - begun))
            except Exception:
                ok = False
            if ok:
                counts["ok"] += 1
                latencies.append(time.monotonic() - begun)
            else:
                counts["failed"] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"latencies": latencies, "elapsed": time.monotonic() - start, **counts}


def merge(results: list[dict]) -> dict:
    """Combine runner results of several client processes (elapsed: the longest)."""
    merged = {"latencies": [], "elapsed": 0.0, "ok": 0, "failed": 0, "not_started": 0}
    for result in results:
        merged["latencies"] += result["latencies"]
        merged["elapsed"] = max(merged["elapsed"], result["elapsed"])
        for key in ("ok", "failed", "not_started"):
            merged[key] += result[key]
        for status, count in result.get("statuses", {}).items():
            merged.setdefault("statuses", {})
            merged["statuses"][status] = merged["statuses"].get(status, 0) + count
    return merged
