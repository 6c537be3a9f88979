"""devtools.localhttp: the 127.0.0.1 server under the auth4app simulator and the tests' provider fakes."""

from __future__ import annotations

import httpx

from devtools.localhttp import LocalHTTPServer, LocalReply, LocalRequest


def test_hands_each_request_over_and_writes_the_reply():
    seen: list[LocalRequest] = []

    def respond(request: LocalRequest) -> LocalReply:
        seen.append(request)
        return LocalReply(201, b'{"ok": true}', {"Content-Type": "application/json", "X-Fake": "1"})

    with LocalHTTPServer(respond) as server:
        assert server.url.startswith("http://127.0.0.1:")
        reply = httpx.post(server.url + "/sms/send?to=%2B98912&x=1", content=b"a=b", headers={"X-Key": "k"})
        deleted = httpx.delete(server.url + "/item/7")
    assert (reply.status_code, reply.json(), reply.headers["x-fake"]) == (201, {"ok": True}, "1")
    assert deleted.status_code == 201
    first = seen[0]
    assert (first.method, first.path, first.query, first.body) == ("POST", "/sms/send", "to=%2B98912&x=1", b"a=b")
    assert first.headers["x-key"] == "k"  # names in lower case
    assert [r.method for r in seen] == ["POST", "DELETE"]


def test_a_client_that_goes_away_leaves_no_traceback_but_real_errors_do(capfd):
    with LocalHTTPServer(lambda request: LocalReply()) as server:
        http = server._http
        for gone in (ConnectionResetError(104, "Connection reset by peer"), BrokenPipeError(32, "Broken pipe")):
            try:
                raise gone
            except OSError:
                http.handle_error(None, ("127.0.0.1", 1))
        assert "Traceback" not in capfd.readouterr().err
        try:
            raise ValueError("a bug in a fake")
        except ValueError:
            http.handle_error(None, ("127.0.0.1", 1))
        assert "ValueError: a bug in a fake" in capfd.readouterr().err
