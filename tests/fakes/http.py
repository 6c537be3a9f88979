"""Fakes of external services on 127.0.0.1, speaking their exact wire format (devtools.localhttp serves them).

Each fake provides `handle(request) -> Reply`; the server records every request so tests can
count and inspect upstream calls. The real client code of the project talks to it over HTTP.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from devtools.localhttp import LocalHTTPServer, LocalReply, LocalRequest


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    def params(self) -> dict[str, str]:
        """Query, form or JSON parameters, whichever the client used."""
        merged = {k: v[0] for k, v in self.query.items()}
        ctype = self.headers.get("content-type", "")
        if self.body:
            if "json" in ctype:
                data = self.json()
                if isinstance(data, dict):
                    merged.update({k: v for k, v in data.items()})
            else:
                merged.update(self.form())
        return merged


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to stall before answering (timeouts)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        body = self.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        return body, headers


class FakeHTTPServer:
    """Start with `with FakeHTTPServer(handler) as server:`; `server.url` is its root."""

    def __init__(self, handler):
        self.handler = handler
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._http = LocalHTTPServer(self._respond)

    def _respond(self, raw: LocalRequest) -> LocalReply:
        request = Request(method=raw.method, path=raw.path, query=parse_qs(raw.query), headers=raw.headers, body=raw.body)
        with self._lock:
            self.requests.append(request)
        reply = self.handler(request)
        body, headers = reply.encoded()
        return LocalReply(reply.status, body, headers, reply.delay)

    @property
    def url(self) -> str:
        return self._http.url

    def start(self) -> "FakeHTTPServer":
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def calls(self, path_suffix: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith(path_suffix)]
