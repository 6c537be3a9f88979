"""My identities (`/api/me/identities/`), unbinding, and a social session ending like every session:
revoking it closes its sockets with 4401."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.ws import ws_ticket_issue
from devtools.social_simulator import FAKE_WEIBO_USERS
from social.models import SocialIdentity

from .conftest import weibo_login

ZAKU = FAKE_WEIBO_USERS[0]["uid"]


@pytest.mark.django_db
@pytest.mark.usefixtures("social_settings")
def test_list_and_unbind_my_identities(auth_client, client, user_factory, weibo):
    me, login = auth_client()
    mine = SocialIdentity.objects.create(provider="weibo", uid=ZAKU, user=login.user, nickname="zaku", avatar_url="https://a.example/1.jpg")
    SocialIdentity.objects.create(provider="wechat_mp", uid="o-secret-openid", unionid="u-secret", user=login.user, nickname="")
    theirs = SocialIdentity.objects.create(provider="weibo", uid="42", user=user_factory(), nickname="not mine")

    listed = me.get("/api/me/identities/")
    assert listed.status_code == 200
    body = listed.json()
    assert [(item["provider"], item["nickname"]) for item in body] == [("weibo", "zaku"), ("wechat_mp", "")]
    assert set(body[0]) == {"id", "provider", "nickname", "avatar_url", "bound_at"}
    for secret in (ZAKU, "o-secret-openid", "u-secret"):
        assert secret not in listed.content.decode()

    assert me.delete(f"/api/me/identities/{theirs.pk}/").status_code == 404
    assert me.delete(f"/api/me/identities/{mine.pk}/").status_code == 204
    assert me.delete(f"/api/me/identities/{mine.pk}/").status_code == 404
    assert [item["provider"] for item in me.get("/api/me/identities/").json()] == ["wechat_mp"]
    assert SocialIdentity.objects.filter(pk=theirs.pk).exists()

    # The unbound Weibo account no longer logs in as me: it gets the bind step again.
    assert weibo_login(client, ZAKU).status_code == 201
    # My session is untouched by the unbind.
    assert me.get("/api/me/").status_code == 200


@pytest.mark.django_db
def test_identities_need_a_login(client):
    assert client.get("/api/me/identities/").status_code == 401
    assert client.delete("/api/me/identities/1/").status_code == 401


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("social_settings")
async def test_revoking_a_social_session_closes_its_sockets_with_4401(client, user_factory, weibo):
    """A Weibo login's session, on the real chat socket: ending it from another session closes it."""
    from rest_framework.test import APIClient

    from config.asgi import application

    user = await database_sync_to_async(user_factory)()
    await database_sync_to_async(SocialIdentity.objects.create)(provider="weibo", uid=ZAKU, user=user)
    social = (await database_sync_to_async(weibo_login)(client, ZAKU)).json()
    other = (await database_sync_to_async(weibo_login)(APIClient(REMOTE_ADDR="203.0.113.11"), ZAKU)).json()

    ticket = await database_sync_to_async(ws_ticket_issue)(user_id=user.pk, session_id=social["session"]["id"])
    socket = WebsocketCommunicator(application, f"/ws/chat/?ticket={ticket}", headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
    connected, _ = await socket.connect()
    assert connected
    try:
        await socket.send_json_to({"type": "ping"})
        assert (await socket.receive_json_from(timeout=5))["type"] == "pong"

        def revoke():
            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {other['access']}")
            return api.delete(f"/api/sessions/{social['session']['id']}/").status_code

        assert await database_sync_to_async(revoke)() == 204
        closed = None
        for _ in range(20):  # frames already in flight may come first; the close must follow
            output = await socket.receive_output(timeout=2)
            if output["type"] == "websocket.close":
                closed = output
                break
        assert closed == {"type": "websocket.close", "code": 4401}
    finally:
        await socket.disconnect()
