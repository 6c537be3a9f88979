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
    assert origin_allowed("")
    assert origin_allowed("http://127.0.0.1:8000")
    assert origin_allowed("http://localhost:8000")
    assert not origin_allowed("https://evil.example")
    assert not origin_allowed("null")


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
