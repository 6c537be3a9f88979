"""The OpenAPI schema describes the social endpoints, their bodies and refusals."""

from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_schema_covers_the_social_endpoints(client):
    schema = client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    expected = {
        ("/api/oauth/providers/", "get"): {"200"},
        ("/api/oauth/weibo/start/", "post"): {"200", "404", "429"},
        ("/api/oauth/weibo/callback/", "post"): {"200", "201", "400", "404", "429", "502"},
        ("/api/oauth/wechat_mp/login/", "post"): {"200", "201", "400", "404", "429", "502"},
        ("/api/oauth/bind/", "post"): {"200", "400", "401", "404", "409", "429"},
        ("/api/me/identities/", "get"): {"200"},
        ("/api/me/identities/{identity_id}/", "delete"): {"204", "404"},
    }
    # Besides its own answers, every operation may list the shared ones of core/schema.py (401 with a
    # token, 400/413 with a body, 404 with a path id), which tests/core/test_schema_errors.py checks.
    shared = {"400", "401", "404", "413"}
    for (path, method), statuses in expected.items():
        documented = set(paths[path][method]["responses"])
        assert statuses <= documented and documented - statuses <= shared, (path, documented)
    components = schema["components"]["schemas"]
    assert set(components["BindInput"]["properties"]) == {"mobile_number", "code", "bind_token"}
    assert set(components["BindPendingOutput"]["properties"]) == {"bind_token", "provider", "expires_in", "profile"}
    assert set(components["IdentityOutput"]["properties"]) == {"id", "provider", "nickname", "avatar_url", "bound_at"}
    assert components["SocialProviderKindEnum"]["enum"] == ["redirect", "code"]


def test_the_schema_builds_without_warnings(tmp_path):
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"))
