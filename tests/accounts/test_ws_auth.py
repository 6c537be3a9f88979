import pytest
from channels.testing import WebsocketCommunicator

from accounts.ws import ws_ticket_issue, ws_ticket_redeem
from config.origin import origin_allowed


@pytest.mark.django_db
def test_ticket_is_single_use(user_factory, login):
    result = login(user_factory())
    ticket = ws_ticket_issue(user_id=result.user.pk, session_id=result.session.id)
    assert ws_ticket_redeem(ticket) == {"user_id": result.user.pk, "sid": result.session.id}
    assert ws_ticket_redeem(ticket) is None
    assert ws_ticket_redeem("made-up") is None


@pytest.mark.django_db
def test_ws_ticket_endpoint(auth_client):
    client, result = auth_client()
    response = client.post("/api/ws/ticket/")
    assert response.status_code == 201
    body = response.json()
    assert body["expires_in"] == 30
    assert ws_ticket_redeem(body["ticket"])["sid"] == result.session.id


def test_origin_allowlist():
    def allowed(origin, host="127.0.0.1:8000", secure=False):
        return origin_allowed(origin, host=host, secure=secure)

    assert allowed("")  # not a browser
    assert allowed("http://127.0.0.1:8000")
    assert allowed("http://localhost:8000", host="localhost:8000")
    assert allowed("http://LOCALHOST:80", host="localhost") and allowed("http://localhost", host="localhost:80")
    assert not allowed("https://evil.example")
    assert not allowed("null")
    # Scheme, host and port all count (today only the host name did).
    assert not allowed("http://localhost:9999", host="localhost:8000")
    assert not allowed("http://127.0.0.1:9999")
    assert not allowed("https://127.0.0.1:8000")
    assert allowed("https://127.0.0.1:8000", secure=True) and not allowed("http://127.0.0.1:8000", secure=True)
    assert not allowed("http://localhost:8000", host="127.0.0.1:8000")  # another host than the one asked
    assert not allowed("http://evil.example:8000", host="evil.example:8000")  # a Host not in ALLOWED_HOSTS


def test_origin_trusted_origins_compare_scheme_host_and_port(settings):
    settings.ALLOWED_HOSTS = ["api.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "https://*.example.org:8443"]

    def allowed(origin):
        return origin_allowed(origin, host="api.example.com", secure=True)

    assert allowed("https://api.example.com")
    assert allowed("https://app.example.com") and allowed("https://app.example.com:443")
    assert not allowed("http://app.example.com") and not allowed("https://app.example.com:8443")
    assert allowed("https://a.example.org:8443") and not allowed("https://a.example.org")
    assert not allowed("https://example.org.evil.example:8443")


def test_socket_scheme_comes_from_the_trusted_proxys_header(settings):
    from config.origin import scope_is_secure

    assert scope_is_secure({"scheme": "wss", "headers": []})
    assert not scope_is_secure({"scheme": "ws", "headers": [(b"x-forwarded-proto", b"https")]})
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert scope_is_secure({"scheme": "ws", "headers": [(b"x-forwarded-proto", b"https")]})
    assert not scope_is_secure({"scheme": "ws", "headers": [(b"x-forwarded-proto", b"http")]})


@pytest.mark.django_db(transaction=True)
async def test_a_foreign_port_of_the_same_host_cannot_open_a_socket(user_factory, login):
    from asgiref.sync import sync_to_async

    from config.asgi import application

    result = await sync_to_async(login)(await sync_to_async(user_factory)())
    ticket = await sync_to_async(ws_ticket_issue)(user_id=result.user.pk, session_id=result.session.id)
    headers = [(b"host", b"localhost:8000"), (b"origin", b"http://localhost:9999")]
    communicator = WebsocketCommunicator(application, f"/ws/chat/?ticket={ticket}", headers=headers)
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


@pytest.mark.django_db
def test_ws_ticket_endpoint_is_rate_limited_per_user(auth_client, settings, user_factory, login):
    settings.WS_TICKETS_PER_USER_PER_MINUTE = 3
    import time_machine

    with time_machine.travel(1_899_997_200 + 15, tick=False):  # 15 s into a minute window
        user = user_factory()
        client, _ = auth_client(user)
        other_device, _ = auth_client(user)
        assert [client.post("/api/ws/ticket/").status_code for _ in range(3)] == [201] * 3
        refused = other_device.post("/api/ws/ticket/")  # per user, across their sessions
        assert refused.status_code == 429
        assert refused["Retry-After"] == "45" and refused.json()["retry_after"] == 45
        assert auth_client()[0].post("/api/ws/ticket/").status_code == 201  # another user is not affected
