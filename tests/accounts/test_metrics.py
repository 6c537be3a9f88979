"""What the accounts app counts: logins by method and sessions ended by reason."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from accounts import services
from accounts.models import LoginSession

pytestmark = pytest.mark.django_db


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_logins_by_method_and_revocations_by_reason(user_factory, login):
    user = user_factory()
    social = value("hotline_authentications_total", method="social", outcome="success")
    first, second, third = login(user), login(user, method="social"), login(user)
    assert value("hotline_authentications_total", method="social", outcome="success") == social + 1

    admin, others = (value("hotline_session_revocations_total", reason=reason) for reason in ("admin", "revoke_others"))
    assert services.session_revoke(session=first.session, reason=LoginSession.RevokeReason.ADMIN)
    assert not services.session_revoke(session=first.session, reason=LoginSession.RevokeReason.ADMIN)  # already ended
    ended = services.sessions_revoke_for_user(user=user, reason=LoginSession.RevokeReason.REVOKE_OTHERS,
                                              keep=third.session.id)
    assert ended == 1 and second.session.id
    assert value("hotline_session_revocations_total", reason="admin") == admin + 1
    assert value("hotline_session_revocations_total", reason="revoke_others") == others + 1
