"""A messenger login completes through accounts' login service, so Django's `user_logged_in`
fires for it (with the request) and `last_login` is set."""

from __future__ import annotations

import pytest
from django.contrib.auth.signals import user_logged_in
from django.test import AsyncClient

from accounts.models import User
from tests.receivers import receiving

from .conftest import confirm_through_simulator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("a4a_settings")]

PHONE = "+79991234567"


async def test_completing_a_messenger_login_sends_user_logged_in_and_sets_last_login(sim, poller):
    client = AsyncClient()
    code_id = (await client.post("/proxy/auth/code", {"phone": PHONE})).json()["code_id"]
    await confirm_through_simulator(client, sim, code_id)
    with receiving(user_logged_in) as logins:
        response = await client.post("/proxy/auth/complete", {"code_id": code_id})
    assert response.status_code == 200, response.content
    (call,) = logins
    user = await User.objects.aget(mobile_number=PHONE)
    assert call["sender"] is User and call["user"] == user and call["method"] == "auth4app"
    assert call["login_session"].pk == response.json()["session"]["id"]
    assert call["request"].path == "/proxy/auth/complete"
    assert user.last_login is not None
