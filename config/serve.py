"""`python -m config.serve`: daphne, with the same arguments, plus two guards of the project.

* **The access log goes through logging** (logger `hotline.access`), so `core.logging`'s redacting
  filter applies to it: daphne's own access log writes each HTTP request's URL, query string
  included, straight to stdout, and a `?token=` there would be a credential in the log.
* **DEBUG is served on loopback only.** With DEBUG on, Django shows tracebacks with settings to
  whoever asks and, with no AUTH4APP_API_KEY, the auth4app simulator is mounted, which logs anyone
  in as anyone. Binding another address with DEBUG on is refused unless DEBUG_ALLOW_NON_LOOPBACK=1.

`--check-only` runs the guards and exits (./scripts/run calls it before migrating). The Procfile
and ./scripts/run start the server this way; `python -m daphne` still works, without the guards.
Why a subclass: daphne builds its access logger inside `CommandLineInterface.run`, and its
`server_class` attribute is the hook it offers for a different server.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from pprint import pformat

from daphne.access import AccessLogGenerator
from daphne.cli import DEFAULT_HOST, CommandLineInterface
from daphne.http_protocol import WebRequest
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol


class LoggedAccessLog(AccessLogGenerator):
    """daphne's NCSA-style access lines, written to the `hotline.access` logger instead of a stream."""

    def __init__(self):
        super().__init__(stream=None)
        self.logger = logging.getLogger("hotline.access")

    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None):
        self.logger.info(
            '%s %s %s [%s] "%s" %s %s',
            host, ident or "-", user or "-", date.strftime("%d/%b/%Y:%H:%M:%S"), request, status or "-", length or "-",
        )


# chat.consumers.CLOSE_FRAME_TOO_LARGE (docs/websocket.md); not imported: Django is not set up here yet.
CLOSE_FRAME_TOO_LARGE = 4413


class FrameLimitedWebSocketProtocol(WebSocketProtocol):
    """daphne's WebSocket protocol, closing an over-limit message with 4413 instead of dropping it.

    daphne bounds every incoming message (--websocket-max-message-size / --websocket-max-frame-size,
    1 MiB by default) through autobahn, which on a larger one drops the TCP connection (`failByDrop`):
    the client sees 1006, an error it would retry with the same frame. A close frame with the
    documented 4413 says "too large" instead. Only the reply changes: the oversized payload is still
    never buffered (autobahn's check runs on the frame header and as data arrives).
    """

    def _max_message_size_exceeded(self, msg_size, max_msg_size, reason) -> None:
        self.failByDrop = False
        self._fail_connection(CLOSE_FRAME_TOO_LARGE, "frame too large")


class FormBlindWebRequest(WebRequest):
    """daphne's request without Twisted's own parsing of POSTed forms (`parsePOSTFormSubmission`).

    daphne hands the raw body to Django and never reads Twisted's parsed `args`; but Twisted parses
    every multipart POST anyway and answers a malformed one itself with an empty, header-less 400
    before Django sees it (e.g. a multipart body with no parts), which no client can read an error
    from. Without that parse, Django's parsers answer it with a JSON 400 like any other bad body.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, parsePOSTFormSubmission=False, **kwargs)


class LoggedAccessServer(Server):
    def __init__(self, *args, action_logger=None, **kwargs):
        # daphne passes its stream access log when verbosity >= 1 or --access-log is given.
        super().__init__(*args, action_logger=LoggedAccessLog() if action_logger is not None else None, **kwargs)

    # daphne's `run()` builds its WebSocket factory and starts the reactor in one call: the factory
    # gets our protocol as it is assigned, before any connection can be accepted.
    @property
    def ws_factory(self):
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory) -> None:
        factory.protocol = FrameLimitedWebSocketProtocol
        self._ws_factory = factory

    @property
    def http_factory(self):
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory) -> None:
        build = factory.buildProtocol

        def build_protocol(addr):
            protocol = build(addr)
            protocol.requestFactory = FormBlindWebRequest
            return protocol

        factory.buildProtocol = build_protocol
        self._http_factory = factory


def _endpoint_interface(endpoint: str) -> str:
    """The address a twisted endpoint string (`tcp:8000:interface=127.0.0.1`) listens on."""
    kind, _, rest = endpoint.partition(":")
    if kind == "unix":
        return "localhost"
    for part in rest.split(":"):
        if part.startswith("interface="):
            return part.split("=", 1)[1].replace("\\:", ":")
    return "0.0.0.0"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def bind_refusal(hosts: list[str], *, debug: bool, forced: bool) -> str | None:
    """Why serving on `hosts` must be refused, or None."""
    exposed = [host for host in hosts if not _is_loopback(host)]
    if not debug or forced or not exposed:
        return None
    return (
        f"hotline: refusing to serve on {', '.join(exposed)} with DEBUG on. DEBUG shows tracebacks and "
        "settings to anyone who can reach the server, and without AUTH4APP_API_KEY it mounts the auth4app "
        "simulator, which logs anyone in as anyone. Bind 127.0.0.1 (leave HOST unset), turn DEBUG off, or "
        "set DEBUG_ALLOW_NON_LOOPBACK=1 if the network is yours alone."
    )


class _PrettyPrintedOnUse:
    """`pprint.pformat(value)`, computed only when the text is used."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __str__(self) -> str:
        return pformat(self.value)

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def defer_autobahn_settings_dump() -> None:
    """autobahn (daphne's WebSocket protocol) pretty-prints its ~40 protocol settings for a debug
    line on every new connection, whatever the log level (`WebSocketProtocol._connectionMade`):
    8 % of a chat handshake's CPU under daphne (py-spy, docs/performance.md). Its module's
    `pformat` becomes lazy, so the text is built only if that debug line is really written."""
    from autobahn.websocket import protocol

    protocol.pformat = _PrettyPrintedOnUse


class HotlineCommandLine(CommandLineInterface):
    server_class = LoggedAccessServer

    def __init__(self):
        super().__init__()
        self.parser.add_argument("--check-only", action="store_true", help="run hotline's start-up guards and exit")

    def run(self, args):
        options = self.parser.parse_args(args)
        hosts = [_endpoint_interface(e) for e in options.socket_strings]
        if options.host or not (hosts or options.unix_socket or options.file_descriptor is not None):
            hosts.append(options.host or DEFAULT_HOST)
        if options.file_descriptor is not None:
            hosts.append("an inherited socket")

        from django.conf import settings  # reads config.settings (DJANGO_SETTINGS_MODULE), nothing else

        refusal = bind_refusal(hosts, debug=settings.DEBUG, forced=settings.DEBUG_ALLOW_NON_LOOPBACK)
        if refusal:
            raise SystemExit(refusal)
        if options.check_only:
            return
        defer_autobahn_settings_dump()
        super().run(args)


def main() -> None:
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    HotlineCommandLine().run(sys.argv[1:])


if __name__ == "__main__":
    main()
