"""A fake auth4app for the auth_push scenario: an ASGI app served by uvicorn on 127.0.0.1 in its own
process, fast enough for a burst of 1,000 confirmations per second.

Upstream wire format (../shared/providers.md, auth4app): `POST /code/get` (api_key, phone; JSON, form or
query) -> {code, code_id, qrLink, links[...]}; `POST /code/result` (api_key, code_id) -> {auth, phone}.
Bench control (this fake only; nothing like it exists in the product):
  POST /bench/confirm {"code_ids": [...]}  -> marks them confirmed now; {"confirmed": n}
  POST /bench/stats   {"code_ids": [...]}  -> per code_id: result_calls, confirmed_at, seen_at
      (monotonic seconds: seen_at is when a code/result call first answered auth=true, i.e. the poll
      that saw the confirmation) and the totals of calls.
"""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import parse_qs

API_KEY = "bench-key"
logins: dict[str, dict] = {}
totals = {"code_get": 0, "code_result": 0, "bad_key": 0}


async def _params(scope, receive) -> dict:
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            break
    params = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
    ctype = dict(scope["headers"]).get(b"content-type", b"").decode()
    if body:
        if "json" in ctype:
            data = json.loads(body)
            if isinstance(data, dict):
                params.update(data)
        else:
            params.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
    return params


async def _reply(send, status: int, data) -> None:
    body = json.dumps(data).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    path = scope["path"].rstrip("/")
    params = await _params(scope, receive)
    now = time.monotonic()
    if path in ("/code/get", "/code/result") and str(params.get("api_key")) != API_KEY:
        totals["bad_key"] += 1
        return await _reply(send, 401, {"error": "bad api_key"})
    if path == "/code/get":
        totals["code_get"] += 1
        code_id = secrets.token_hex(16)
        code = f"{secrets.randbelow(900000) + 100000}"
        logins[code_id] = {"phone": "".join(c for c in str(params.get("phone", "")) if c.isdigit()),
                           "result_calls": 0, "confirmed_at": None, "seen_at": None, "created_at": now}
        return await _reply(send, 200, {
            "code": int(code), "code_id": code_id, "qrLink": f"https://auth4app.invalid/qr/{code_id}",
            "links": [{"title": "Telegram", "link": "tg://resolve?domain=auth4app_bot",
                       "image": "https://auth4app.invalid/telegram.png", "color": "#229ED9"}]})
    if path == "/code/result":
        totals["code_result"] += 1
        login = logins.get(str(params.get("code_id")))
        if login is None:
            return await _reply(send, 200, {"auth": False, "phone": ""})
        login["result_calls"] += 1
        confirmed = login["confirmed_at"] is not None
        if confirmed and login["seen_at"] is None:
            login["seen_at"] = now
        return await _reply(send, 200, {"auth": confirmed, "phone": login["phone"] if confirmed else ""})
    if path == "/bench/confirm":
        count = 0
        for code_id in params.get("code_ids", []):
            login = logins.get(code_id)
            if login is not None and login["confirmed_at"] is None:
                login["confirmed_at"] = time.monotonic()
                count += 1
        return await _reply(send, 200, {"confirmed": count})
    if path == "/bench/stats":
        wanted = params.get("code_ids") or list(logins)
        return await _reply(send, 200, {"logins": {c: logins[c] for c in wanted if c in logins}, "totals": totals})
    return await _reply(send, 404, {"error": "not found"})
