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
