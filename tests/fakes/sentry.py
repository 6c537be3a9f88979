"""A fake Sentry ingest on 127.0.0.1: takes the SDK's envelopes (`POST /api/<project>/envelope/`, gzip
or plain) and keeps them, raw and parsed, for the tests to inspect. Served by devtools.localhttp."""

from __future__ import annotations

import gzip
import json
import threading
import zlib

from devtools.localhttp import LocalHTTPServer, LocalReply

PUBLIC_KEY = "0123456789abcdef0123456789abcdef"
PROJECT = "42"


class FakeSentry:
    def __init__(self):
        self.raw: list[bytes] = []  # each envelope as it arrived, decompressed
        self.events: list[dict] = []  # the items of type "event"
        self._lock = threading.Lock()
        self._http = LocalHTTPServer(self._respond)

    @property
    def dsn(self) -> str:
        host = self._http.url.split("://", 1)[1]
        return f"http://{PUBLIC_KEY}@{host}/{PROJECT}"

    def _respond(self, request) -> LocalReply:
        if request.method != "POST" or request.path != f"/api/{PROJECT}/envelope/":
            return LocalReply(404, b"{}")
        body = request.body
        encoding = request.headers.get("content-encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        events = []
        lines = body.split(b"\n")
        index = 1  # after the envelope header
        while index < len(lines):
            if not lines[index].strip():
                index += 1
                continue
            item = json.loads(lines[index])
            payload = lines[index + 1] if index + 1 < len(lines) else b""
            if item.get("type") == "event":
                events.append(json.loads(payload))
            index += 2
        with self._lock:
            self.raw.append(body)
            self.events.extend(events)
        return LocalReply(200, b'{"id": "0"}', {"Content-Type": "application/json"})

    def start(self) -> "FakeSentry":
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()
