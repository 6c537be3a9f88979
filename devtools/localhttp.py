"""A small threaded HTTP server on 127.0.0.1 for local stand-ins of external services.

The auth4app and social-login simulators and the tests' fakes of SMS and auth providers all speak
a provider's exact wire format over real HTTP, so the project's real client code runs against them.
This is the part they share: read a request (`parse_params` reads its query, form or JSON), hand it
to `respond`, write the reply; a reply may ask for a delay (to provoke the client's timeouts), cut
short when the server stops.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class LocalRequest:
    method: str
    path: str
    query: str  # the raw query string
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass
class LocalReply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to stall before answering


def parse_params(query: str, content_type: str, body: bytes) -> dict:
    """Query, form or JSON parameters, whichever the client used (the simulators accept all three,
    as the providers they stand in for do)."""
    params = {k: v[0] for k, v in parse_qs(query).items()}
    if body:
        if "json" in content_type:
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict):
                params.update(data)
        else:
            params.update({k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()})
    return params


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A client that goes away (a timeout test, a kept-alive connection closed) is not an error
        # worth a traceback on stderr.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class LocalHTTPServer:
    """`with LocalHTTPServer(respond) as server:` serves on `server.url` until the block ends."""

    def __init__(self, respond: Callable[[LocalRequest], LocalReply], *, port: int = 0):
        self._stopping = threading.Event()
        stopping = self._stopping

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = LocalRequest(
                    method=self.command,
                    path=parts.path,
                    query=parts.query,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                reply = respond(request)
                if reply.delay:
                    stopping.wait(reply.delay)
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self._http = _Server(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LocalHTTPServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> "LocalHTTPServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
