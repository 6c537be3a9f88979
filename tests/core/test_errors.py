"""One error type (core.errors.ServiceError) and its translations: one per HTTP body family, one for
sockets. The body shapes are contracts (docs/security.md, docs/auth4app.md, docs/social.md,
docs/websocket.md); each app's tests check its endpoints' bodies, these check the rules themselves."""

from __future__ import annotations

import ast

import pytest
from rest_framework.exceptions import Throttled

from core import errors
from core.errors import RateLimited, ServiceError
from tests.core.test_structure import ROOT, app_modules

# Exceptions that never reach a client as a refusal: each is caught and turned into something else
# where it is raised or one layer up (a ServiceError, a retry, a log line).
INTERNAL_EXCEPTIONS = {
    "auth4app/upstream.py": {"UpstreamError"},  # -> LoginError upstream_unavailable (502) or a poll retry
    "sms/providers/base.py": {"ProviderFailure"},  # -> the next attempt or provider (sms.services)
    "social/providers/base.py": {"ProviderFailure"},  # (and its subclasses) -> social ProviderError
    "chat/consumers.py": {"_Closed"},  # the socket closed while a handler was sending: stop quietly
    "pages/services.py": {"WebSessionInvalid"},  # -> the page's 401 {"error"} and a cleared cookie
}


def _exception_classes():
    for path in app_modules():
        relative = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                if bases & {"Exception", "APIException", "ValueError", "RuntimeError"}:
                    yield relative, node.name


def test_every_refusal_of_the_apps_is_a_service_error():
    """A new exception class either extends ServiceError (so both translations know it) or is listed
    above with where it is caught."""
    found = set(_exception_classes())
    loose = [f"{path}: {name}" for path, name in sorted(found)
             if name not in INTERNAL_EXCEPTIONS.get(path, set()) and path != "core/errors.py"]
    assert loose == []
    # The list above stays true: each entry is still an exception class of that module.
    assert {(path, name) for path, names in INTERNAL_EXCEPTIONS.items() for name in names} <= found


def test_the_apps_refusals_extend_the_one_base():
    from accounts.profiles import ProfileError
    from auth4app.errors import LoginError
    from chat.errors import ChatError
    from otp.services import AccountDisabled, InvalidCode, ResendCooldown
    from social.errors import ProviderError, SocialError

    for cls in (ProfileError, LoginError, ChatError, AccountDisabled, InvalidCode, ResendCooldown, SocialError,
                ProviderError, RateLimited, errors.DatabaseUnavailable):
        assert issubclass(cls, ServiceError), cls


def test_rate_limited_is_drf_throttled_with_retry_after_in_whole_seconds():
    exc = RateLimited(2.2)
    assert isinstance(exc, Throttled) and exc.wait == exc.retry_after == 3 and exc.status == exc.status_code == 429
    assert exc.code == "rate_limited" and exc.get_codes() == "rate_limited" and str(exc) == exc.detail
    assert RateLimited(0).retry_after == 1


@pytest.mark.parametrize(
    "exc, detail, chelseru, error_key, social",
    [
        (
            RateLimited(30),
            {"detail": "Too many requests. Try again later.", "code": "rate_limited", "retry_after": 30},
            {"details": "Too many requests. Try again later.", "detail": "Too many requests. Try again later.",
             "retry_after": 30},
            {"error": "Too many requests. Try again later.", "detail": "Too many requests. Try again later.",
             "retry_after": 30},
            {"details": "Too many requests. Try again later.", "detail": "Too many requests. Try again later.",
             "retry_after": 30},
        ),
        (
            ServiceError("resend_cooldown", "Wait.", status=409, retry_after=40),
            {"detail": "Wait.", "code": "resend_cooldown", "retry_after": 40},
            {"details": "Wait.", "retry_after": 40},
            {"error": "Wait.", "detail": "Wait.", "retry_after": 40},
            {"error": "Wait.", "detail": "Wait.", "code": "resend_cooldown"},
        ),
        (
            ServiceError("invalid_sms_code", "Invalid or expired code.", status=401),
            {"detail": "Invalid or expired code.", "code": "invalid_sms_code"},
            {"error": "Invalid or expired code."},
            {"error": "Invalid or expired code.", "detail": "Invalid or expired code.", "code": "invalid_sms_code"},
            {"error": "Invalid or expired code.", "detail": "Invalid or expired code.", "code": "invalid_sms_code"},
        ),
        (
            ServiceError("inactive", "This account is disabled.", status=403),
            {"detail": "This account is disabled.", "code": "inactive"},
            {"error": "This account is disabled.", "code": "inactive"},
            {"error": "This account is disabled.", "detail": "This account is disabled.", "code": "inactive"},
            {"error": "This account is disabled.", "detail": "This account is disabled.", "code": "inactive"},
        ),
    ],
)
def test_each_body_family_renders_one_refusal_its_own_way(exc, detail, chelseru, error_key, social):
    assert errors.detail_body(exc) == detail
    assert errors.chelseru_body(exc) == chelseru
    assert errors.error_key_body(exc) == error_key
    assert errors.social_body(exc) == social


def test_a_provider_error_adds_its_fields():
    from social.errors import ProviderError

    exc = ProviderError(provider="weibo", provider_code="21325", rejected_code=True)
    assert exc.status == 400 and exc.code == "invalid_code"
    assert errors.social_body(exc) == {"error": exc.detail, "detail": exc.detail, "code": "invalid_code",
                                       "provider": "weibo", "provider_code": "21325"}


def test_plain_views_get_the_same_status_body_and_retry_after():
    response = errors.service_error_response(RateLimited(7), errors.error_key_body)
    assert response.status_code == 429 and response["Retry-After"] == "7"
    unavailable = errors.database_unavailable_response()
    assert unavailable.status_code == 503 and unavailable["Retry-After"] == "2"


def test_socket_translations():
    assert errors.error_frame(RateLimited(4, "Too many messages. Try again later."), "c1") == {
        "type": "error", "code": "rate_limited", "detail": "Too many messages. Try again later.", "ref": "c1",
        "retry_after": 4,
    }
    assert errors.error_frame(ServiceError("bad_frame", "The frame is not JSON.")) == {
        "type": "error", "code": "bad_frame", "detail": "The frame is not JSON.", "ref": None,
    }
    assert errors.close_code(ServiceError("forbidden", "x", status=403)) == 4403


def test_redis_unavailable_is_a_503_with_retry_after_not_a_500():
    """A Redis restart or Sentinel failover outlasting the clients' retries (issue 20)."""
    import redis
    from redis.sentinel import MasterNotFoundError

    for failure in (redis.ConnectionError("refused"), redis.TimeoutError("slow"), MasterNotFoundError("no master")):
        response = errors.api_exception_handler(failure, {})
        assert response.status_code == 503 and response["Retry-After"] == "2"
        assert response.data["code"] == "service_unavailable"
