"""Scenario `otp`: POST /api/otp/send/ and POST /api/authenticate/ under load, hotline beside the peer.

For each kind (hotline, then the peer, same server, processes and clients):
1. send: one code to each of N distinct numbers (600), closed loop with 40 requests in flight in all.
2. the codes are read back: hotline's from the server log, as a developer reads them (the console SMS
   provider writes one line per SMS on logger `sms.console`, in the Celery worker's log when Redis is
   used; no bench-only path exists in the product); the peer's from its bench view
   `GET /bench/otp/<mobile>/` (the stubbed SMS provider keeps the last text per process, so each number
   is read from the process it was sent through).
3. authenticate: each number with its code, closed loop, 40 in flight -> requests/s, p50, p99.
CPU per send and per authenticate of the whole machine, split by part, for each kind.

hotline's limits are raised through their environment variables for the run (the cooldown is 0), so
the figures measure the work, not the 429s; the peer has no limits. The peer's numbers are `09` + 9
digits (all it accepts), hotline's +98912...; a fresh block of numbers per configuration.
Target (issue 19): at least 2x the peer's requests per second at 40 in flight, p50 no worse than its.
"""

from __future__ import annotations

import re
import time

from bench import clients
from bench.harness import ClientPool, CpuMeter, Report, ServerGroup, latency_summary

SCENARIO = "otp"
KINDS = ("hotline", "peer")
LIMITS_ENV = {
    "SMS_PROVIDER": "console",
    "OTP_RESEND_SECONDS": "0",
    "OTP_SENDS_PER_NUMBER_PER_HOUR": "1000000",
    "OTP_SENDS_PER_IP_PER_HOUR": "1000000",
    "OTP_FAILURES_PER_NUMBER_PER_HOUR": "1000000",
    "OTP_FAILURES_PER_IP_PER_HOUR": "1000000",
    "OTP_GLOBAL_SENDS_PER_HOUR": "100000000",
    "OTP_TTL_SECONDS": "600",
}
# The console provider's line "SMS to <E.164>: <text>" (logger sms.console; Celery's worker log format
# drops the logger name, so the line is recognised by its text; the masked delivery line does not match).
CONSOLE_LINE = re.compile(r"SMS to (\+\d{6,16}): (.*)$", re.MULTILINE)


def sizes(quick: bool) -> dict:
    if quick:
        return {"numbers": 60, "in_flight": 8, "seconds": 30}
    # the operation: 600 numbers, 40 requests in flight; every phase bounded in time too
    return {"numbers": 600, "in_flight": 40, "seconds": 30}


def numbers(run: int, count: int, kind: str = "hotline") -> list[str]:
    """Distinct valid mobile numbers, a fresh block per run: hotline's +98912..., the peer's 0912...
    (`09` + 9 digits, the only form it accepts)."""
    base = (run % 900) * 10_000
    prefix = "+98912" if kind == "hotline" else "0912"
    return [f"{prefix}{(base + i) % 10_000_000:07d}" for i in range(count)]


def codes_from_log(text: str, length: int = 6) -> dict[str, str]:
    """The newest code each number received, from the console provider's log lines."""
    found: dict[str, str] = {}
    digits = re.compile(rf"(?<!\d)(\d{{{length}}})(?!\d)")
    for number, message in CONSOLE_LINE.findall(text):
        match = digits.search(message)
        if match:
            found[number] = match.group(1)
    return found


# --- client side (runs in the client processes) ---------------------------------------------------

async def client_send(state: dict, *, targets: list[list[str]], concurrency: int, time_limit: float):
    """targets: [base url, number]; one POST /api/otp/send/ each."""
    http = clients.http_clients(state)
    statuses: dict[int, int] = {}

    async def job(i: int) -> bool:
        url, number = targets[i]
        response = await http[i % len(http)].post(f"{url}/api/otp/send/", json={"mobile_number": number})
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        return response.status_code == 200

    result = await clients.closed_loop(len(targets), concurrency, job, time_limit=time_limit)
    result["statuses"] = statuses
    return result


async def client_peer_codes(state: dict, *, targets: list[list[str]], concurrency: int, time_limit: float):
    """The peer's codes from its bench view, each from the process the number was sent through."""
    http = clients.http_clients(state)
    codes: dict[str, str] = {}

    async def job(i: int) -> bool:
        url, number = targets[i]
        response = await http[i % len(http)].get(f"{url}/bench/otp/{number}/")
        if response.status_code == 200 and response.json().get("code"):
            codes[number] = str(response.json()["code"])
            return True
        return False

    await clients.closed_loop(len(targets), concurrency, job, time_limit=time_limit)
    return codes


async def client_authenticate(state: dict, *, targets: list[list[str]], concurrency: int, time_limit: float):
    """targets: [base url, number, code]; one POST /api/authenticate/ each, 200 with an access token."""
    http = clients.http_clients(state)
    statuses: dict[int, int] = {}

    async def job(i: int) -> bool:
        url, number, code = targets[i]
        response = await http[i % len(http)].post(f"{url}/api/authenticate/",
                                                  json={"mobile_number": number, "code": code})
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        return response.status_code == 200 and "access" in response.json()

    result = await clients.closed_loop(len(targets), concurrency, job, time_limit=time_limit)
    result["statuses"] = statuses
    return result


# --- harness side ---------------------------------------------------------------------------------

def add_cpu(report: Report, label: str, processes: int, what: str, meter: CpuMeter, done: int) -> None:
    """CPU per request of the whole machine, split by part: with everything on 2 cores, 2000 ms / total
    is the most requests per second the machine could ever do."""
    total, note = meter.stop_per_item(done)
    report.add(SCENARIO, label, processes, f"CPU per {what} (whole machine)", total, "ms", note=note, parts=meter.per)


def split(items: list, parts: int) -> list[list]:
    return [items[i::parts] for i in range(parts)]


def failures_row(report: Report, label: str, processes: int, what: str, result: dict) -> None:
    bad = result["failed"] + result["not_started"]
    report.add(SCENARIO, label, processes, f"{what} failed", bad, "requests", "0",
               note=f"{result['not_started']} not started within the time bound; statuses "
                    f"{result.get('statuses', {})}" if bad else "")


def hotline_codes(group: ServerGroup, batch: list[str], sent: int) -> dict[str, str]:
    """The SMS leave through the worker after commit: wait (bounded) until every code is in the log."""
    deadline = time.monotonic() + 20
    codes: dict[str, str] = {}
    while time.monotonic() < deadline:
        codes = codes_from_log(group.logs())
        if all(n in codes for n in batch[:sent]) and len(codes) >= sent:
            break
        time.sleep(0.25)
    return codes


def run(report: Report, backends, *, server: str, processes: int, quick: bool, pool: ClientPool, run_id: int,
        kinds: tuple[str, ...] | list[str] = ("hotline",)) -> None:
    for kind in kinds:
        measure(report, backends, kind, server=server, processes=processes, quick=quick, pool=pool, run_id=run_id)


def measure(report: Report, backends, kind: str, *, server: str, processes: int, quick: bool, pool: ClientPool,
            run_id: int) -> None:
    size = sizes(quick)
    if kind == "peer":
        from bench import peer

        group = peer.prepare(backends).server_group(backends, server, processes).start()
    else:
        group = ServerGroup(backends, server=server, processes=processes, env=LIMITS_ENV).start()
    label = group.label
    add = lambda metric, value, unit="", target="", note="": report.add(  # noqa: E731
        SCENARIO, label, processes, metric, value, unit, target, note)
    each = max(1, size["in_flight"] // pool.count)  # requests in flight per client process
    try:
        batch = numbers(run_id, size["numbers"], kind)
        url_of = {n: group.urls[i % len(group.urls)] for i, n in enumerate(batch)}
        meter = CpuMeter(group, pool).start()
        sent = clients.merge(pool.call(client_send, [
            {"targets": [[url_of[n], n] for n in part], "concurrency": each, "time_limit": size["seconds"]}
            for part in split(batch, pool.count)], timeout=size["seconds"] + 60))
        add("send requests/s", sent["ok"] / max(sent["elapsed"], 1e-6), "req/s",
            note=f"{sent['ok']} numbers, {each * pool.count} in flight")
        summary = latency_summary(sent["latencies"])
        add("send p50", summary["p50_ms"], "ms")
        add("send p99", summary["p99_ms"], "ms")
        add_cpu(report, label, processes, "send", meter, sent["ok"])
        failures_row(report, label, processes, "send", sent)

        if kind == "peer":
            codes: dict[str, str] = {}
            for part in pool.call(client_peer_codes, [
                    {"targets": [[url_of[n], n] for n in part], "concurrency": each, "time_limit": size["seconds"]}
                    for part in split(batch, pool.count)], timeout=size["seconds"] + 60):
                codes.update(part)
            source = "from its bench view GET /bench/otp/<mobile>/"
        else:
            codes = hotline_codes(group, batch, sent["ok"])
            source = "from the console SMS provider's log lines"
        pairs = [[url_of[n], n, codes[n]] for n in batch if n in codes]
        add("codes read", len(pairs), "codes", f"= {sent['ok']} sent", source)

        meter = CpuMeter(group, pool).start()
        authed = clients.merge(pool.call(client_authenticate, [
            {"targets": part, "concurrency": each, "time_limit": size["seconds"]}
            for part in split(pairs, pool.count)], timeout=size["seconds"] + 60))
        add("authenticate requests/s", authed["ok"] / max(authed["elapsed"], 1e-6), "req/s",
            note=f"{authed['ok']} logins, {each * pool.count} in flight")
        summary = latency_summary(authed["latencies"])
        add("authenticate p50", summary["p50_ms"], "ms")
        add("authenticate p99", summary["p99_ms"], "ms")
        add_cpu(report, label, processes, "authenticate", meter, authed["ok"])
        failures_row(report, label, processes, "authenticate", authed)
    finally:
        group.stop()


if __name__ == "__main__":
    from bench.__main__ import main

    raise SystemExit(main(["otp", *__import__("sys").argv[1:]]))
