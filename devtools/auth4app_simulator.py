"""A local stand-in for auth4app, speaking its exact wire format (docs/auth4app.md).

One implementation, `SimulatorCore`, served two ways:
- as Django views at `/dev/auth4app/` when settings.AUTH4APP_SIMULATOR (DEBUG on, no API key),
  with a page listing pending codes and a "confirm" button (devtools/auth4app_views.py);
- as a standalone HTTP server on 127.0.0.1 (`SimulatorServer`, or
  `python -m devtools.auth4app_simulator --port 8765`) for tests and benchmarks, driven from any process
  through its control endpoints under `/_sim/`.

Upstream endpoints (POST or GET; parameters in the query, a form or a JSON body; JSON replies):
  /code/get     api_key, phone    -> {"code", "code_id", "qrLink", "links": [...]}
  /code/result  api_key, code_id  -> {"auth": bool, "phone": "<digits>"}
Control endpoints (not part of auth4app; standalone server only unless noted):
  POST /_sim/confirm  code_id [, phone]   confirm a code (the person sent it to the bot)
  POST /_sim/mode     mode=ok|error|timeout|garbage [, delay]   how code/result (and code/get) answer
  GET  /_sim/codes                        every code with its timings
  GET  /_sim/stats                        calls per endpoint
  POST /_sim/reset                        forget everything

This module imports nothing from Django (nor does devtools.localhttp), so a benchmark can run it in any
process.
"""

from __future__ import annotations

import argparse
import json
import secrets
import threading
import time
from dataclasses import dataclass, field

from devtools.localhttp import LocalHTTPServer, LocalReply, LocalRequest, parse_params

MODES = ("ok", "error", "timeout", "garbage")


@dataclass
class SimReply:
    status: int
    body: dict | str
    delay: float = 0.0  # seconds to stall before answering


class MemoryStorage:
    """Codes in a dict guarded by a lock (one process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: dict[str, dict] = {}
        self.settings: dict[str, object] = {"mode": "ok", "delay": 0.0}
        self.stats: dict[str, int] = {}

    def get(self, code_id: str) -> dict | None:
        with self.lock:
            record = self.codes.get(code_id)
            return dict(record) if record else None

    def put(self, record: dict) -> None:
        with self.lock:
            self.codes[record["code_id"]] = dict(record)

    def update(self, code_id: str, **fields) -> dict | None:
        with self.lock:
            record = self.codes.get(code_id)
            if record is None:
                return None
            record.update(fields)
            return dict(record)

    def all(self) -> list[dict]:
        with self.lock:
            return [dict(r) for r in self.codes.values()]

    def count(self, name: str) -> None:
        with self.lock:
            self.stats[name] = self.stats.get(name, 0) + 1

    def get_stats(self) -> dict[str, int]:
        with self.lock:
            return dict(self.stats)

    def get_setting(self, name: str):
        with self.lock:
            return self.settings.get(name)

    def set_setting(self, name: str, value) -> None:
        with self.lock:
            self.settings[name] = value

    def reset(self) -> None:
        with self.lock:
            self.codes.clear()
            self.stats.clear()
            self.settings.update({"mode": "ok", "delay": 0.0})


def _digits(value: object) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


@dataclass
class SimulatorCore:
    """The fake auth4app. `api_key=None` accepts any key (the DEBUG simulator has none)."""

    api_key: str | None = None
    storage: object = field(default_factory=MemoryStorage)
    public_url: str = "http://127.0.0.1"
    controls: bool = True  # the /_sim/ endpoints

    def handle(self, method: str, path: str, params: dict) -> SimReply:
        route = path.rstrip("/").rsplit("/", 2)
        route = "/".join(route[-2:])
        if route == "code/get":
            return self._guarded("code/get", params, self.code_get)
        if route == "code/result":
            return self._guarded("code/result", params, self.code_result)
        if self.controls and route.startswith("_sim/"):
            return self._control(route[5:], method, params)
        return SimReply(404, {"error": "not found"})

    # --- auth4app ----------------------------------------------------------------------------

    def _guarded(self, name: str, params: dict, handler) -> SimReply:
        self.storage.count(name)
        if self.api_key is not None and params.get("api_key") != self.api_key:
            return SimReply(401, {"error": "invalid api_key"})
        mode = self.storage.get_setting("mode") or "ok"
        delay = float(self.storage.get_setting("delay") or 0.0)
        if mode == "error":
            return SimReply(500, {"error": "internal error"}, delay)
        if mode == "timeout":
            return SimReply(504, {"error": "timeout"}, max(delay, 30.0))
        if mode == "garbage":
            return SimReply(200, "<html>maintenance</html>", delay)
        reply = handler(params)
        reply.delay = delay
        return reply

    def code_get(self, params: dict) -> SimReply:
        phone = _digits(params.get("phone"))
        if not 8 <= len(phone) <= 15:
            return SimReply(400, {"error": "invalid phone"})
        code = secrets.randbelow(900_000) + 100_000
        code_id = secrets.token_hex(16)
        self.storage.put(
            {"code_id": code_id, "code": code, "phone": phone, "created_at": time.time(), "auth": False,
             "confirmed_at": None, "first_seen_at": None, "result_calls": 0}
        )
        return SimReply(
            200,
            {
                "code": code,
                "code_id": code_id,
                "qrLink": f"{self.public_url}/qr/{code_id}",
                "links": [
                    {"title": "WhatsApp", "link": f"whatsapp://send?phone=79950000000&text={code}",
                     "image": "https://api.auth4app.com/whatsapp.png", "color": "#25D366"},
                    {"title": "Telegram", "link": "tg://resolve?domain=auth4app_bot",
                     "image": "https://api.auth4app.com/telegram.png", "color": "#229ED9"},
                    {"title": "Viber", "link": f"viber://pa?chatURI=auth4app&text={code}",
                     "image": "https://api.auth4app.com/viber.png", "color": "#7360F2"},
                ],
            },
        )

    def code_result(self, params: dict) -> SimReply:
        code_id = str(params.get("code_id") or "")
        record = self.storage.get(code_id)
        if record is None:
            return SimReply(404, {"error": "code not found"})
        fields = {"result_calls": record.get("result_calls", 0) + 1}
        if record["auth"] and not record.get("first_seen_at"):
            fields["first_seen_at"] = time.time()  # benchmark hook: when a poll first saw it
        self.storage.update(code_id, **fields)
        return SimReply(200, {"auth": bool(record["auth"]), "phone": record["phone"]})

    # --- control -------------------------------------------------------------------------------

    def confirm(self, code_id: str, phone: str | None = None) -> dict | None:
        """The person sent the code to the bot (optionally from another number)."""
        fields = {"auth": True, "confirmed_at": time.time()}
        if phone:
            fields["phone"] = _digits(phone)
        return self.storage.update(code_id, **fields)

    def pending(self) -> list[dict]:
        return sorted((r for r in self.storage.all() if not r["auth"]), key=lambda r: r["created_at"], reverse=True)

    def _control(self, action: str, method: str, params: dict) -> SimReply:
        if action == "confirm":
            record = self.confirm(str(params.get("code_id") or ""), params.get("phone"))
            return SimReply(200, record) if record else SimReply(404, {"error": "code not found"})
        if action == "mode":
            mode = params.get("mode", "ok")
            if mode not in MODES:
                return SimReply(400, {"error": f"mode must be one of {', '.join(MODES)}"})
            self.storage.set_setting("mode", mode)
            self.storage.set_setting("delay", float(params.get("delay") or 0.0))
            return SimReply(200, {"mode": mode})
        if action == "codes":
            return SimReply(200, {"codes": self.storage.all()})
        if action == "stats":
            return SimReply(200, self.storage.get_stats())
        if action == "reset":
            self.storage.reset()
            return SimReply(200, {"ok": True})
        return SimReply(404, {"error": "not found"})


def encode(reply: SimReply) -> tuple[bytes, str]:
    if isinstance(reply.body, str):
        return reply.body.encode(), "text/html"
    return json.dumps(reply.body).encode(), "application/json"


class SimulatorServer:
    """`SimulatorCore` over HTTP on 127.0.0.1: `with SimulatorServer() as sim: sim.url`."""

    def __init__(self, core: SimulatorCore | None = None, *, port: int = 0):
        self.core = core or SimulatorCore()
        self._http = LocalHTTPServer(self._respond, port=port)
        self.core.public_url = self.url

    def _respond(self, request: LocalRequest) -> LocalReply:
        params = parse_params(request.query, request.headers.get("content-type", ""), request.body)
        reply = self.core.handle(request.method, request.path, params)
        data, content_type = encode(reply)
        return LocalReply(reply.status, data, {"Content-Type": content_type}, reply.delay)

    @property
    def url(self) -> str:
        return self._http.url

    def start(self) -> "SimulatorServer":
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> "SimulatorServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def result_calls(self) -> int:
        return self.core.storage.get_stats().get("code/result", 0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local auth4app simulator on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default=None, help="require this api_key (default: accept any)")
    args = parser.parse_args(argv)
    server = SimulatorServer(SimulatorCore(api_key=args.api_key), port=args.port)
    print(f"auth4app simulator on {server.url} (control: {server.url}/_sim/)", flush=True)
    server.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
