"""The seed-compatible /proxy/auth/* endpoints in the OpenAPI schema (auth4app/schema.py): listed with
their request bodies and every answer, and the real views' answers match what the schema says."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError
from django.test import AsyncClient, RequestFactory

from accounts.models import User
from auth4app.schema import ERROR_CODES
from auth4app.services import BROWSER_COOKIE
from auth4app.store import STATUSES
from core.errors import json_or_html_500

from .conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("a4a_settings")]

PHONE = "+79991234567"
FORM, JSON = "application/x-www-form-urlencoded", "application/json"
# 413: every body over DATA_UPLOAD_MAX_MEMORY_SIZE (core.request_limits, documented by core/schema.py).
DOCUMENTED = {
    "/proxy/auth/code": ("Auth4appCodeInput", {"200", "400", "413", "429", "502"}),
    "/proxy/auth/result": ("Auth4appBoundLoginInput", {"200", "400", "403", "404", "413"}),
    "/proxy/auth/complete": ("Auth4appBoundLoginInput", {"200", "400", "403", "404", "413", "503"}),
}


async def openapi() -> dict:
    response = await AsyncClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


async def test_schema_lists_the_three_proxy_endpoints_with_bodies_and_answers(poller):
    schema = await openapi()
    for path, (request_component, statuses) in DOCUMENTED.items():
        assert set(schema["paths"][path]) == {"post"}, path
        operation = schema["paths"][path]["post"]
        body = operation["requestBody"]
        assert body["required"] is True
        assert set(body["content"]) == {FORM, JSON}
        for media in (FORM, JSON):
            assert body["content"][media]["schema"] == {"$ref": f"#/components/schemas/{request_component}"}
        assert set(operation["responses"]) == statuses
        for status, answer in operation["responses"].items():
            assert answer["content"]["application/json"]["schema"]["$ref"].startswith("#/components/schemas/")
            assert status == "200" or answer["description"], (path, status)
    components = schema["components"]["schemas"]
    assert components["Auth4appCodeInput"]["required"] == ["phone"]
    assert components["Auth4appBoundLoginInput"]["required"] == ["code_id"]
    assert set(components["Auth4appBoundLoginInput"]["properties"]) == {"code_id", "login_token"}
    assert components["Auth4appErrorCodeEnum"]["enum"] == list(ERROR_CODES)
    status = components["Auth4appResultOutput"]["properties"]["status"]["description"]
    assert all(f"`{value}`" in status for value in STATUSES)
    code = schema["paths"]["/proxy/auth/code"]["post"]["responses"]
    assert "Set-Cookie" in code["200"]["headers"] and "Retry-After" in code["429"]["headers"]
    cookie = [p for p in schema["paths"]["/proxy/auth/result"]["post"]["parameters"] if p["in"] == "cookie"]
    assert [p["name"] for p in cookie] == [BROWSER_COOKIE]
    docs = await AsyncClient().get("/api/docs/")
    assert docs.status_code == 200


class Conformance:
    """Checks real answers against the schema: the status is documented for the path, the body
    validates (no undocumented fields, except in the links auth4app passes through), and an error's
    `code` is among those its answer's description lists."""

    def __init__(self, schema: dict):
        self.schema = schema
        self.components = copy.deepcopy(schema["components"])
        for name, component in self.components["schemas"].items():
            if "properties" in component and name != "Auth4appLink":
                component["additionalProperties"] = False
        self.seen: set[tuple[str, str]] = set()

    def check(self, path: str, response) -> dict:
        status = str(response.status_code)
        answers = self.schema["paths"][path]["post"]["responses"]
        assert status in answers, (path, status, response.content)
        answer = answers[status]
        body = json.loads(response.content)
        ref = answer["content"]["application/json"]["schema"]
        jsonschema.validate(body, {**ref, "components": self.components})
        if "code" in body and status != "200":
            assert f"`{body['code']}`" in answer["description"], (path, status, body)
        for header in answer.get("headers", {}):
            # Django keeps the cookies it will send as Set-Cookie headers apart from the others.
            sent = bool(response.cookies) if header == "Set-Cookie" else response.has_header(header)
            assert sent, (path, status, header)
        self.seen.add((path, status))
        return body


async def test_every_answer_of_the_real_views_matches_the_schema(sim, poller, settings):
    conformance = Conformance(await openapi())
    check = conformance.check
    client = AsyncClient()
    code, result, complete = "/proxy/auth/code", "/proxy/auth/result", "/proxy/auth/complete"

    started = check(code, await client.post(code, {"phone": PHONE}))
    as_json = await client.post(code, json.dumps({"phone": "+79991234568"}), content_type=JSON)
    check(code, as_json)
    check(code, await client.post(code, {"phone": "12"}))
    check(code, await client.post(code, "{", content_type=JSON))
    code_id, token = started["code_id"], started["login_token"]

    assert check(result, await client.post(result, {"code_id": code_id}))["status"] == "pending"
    check(result, await client.post(result, {}))
    check(result, await AsyncClient().post(result, {"code_id": code_id}))
    check(result, await client.post(result, {"code_id": "f" * 32}))
    assert check(complete, await client.post(complete, {"code_id": code_id}))["code"] == "not_confirmed"
    check(complete, await AsyncClient().post(complete, {"code_id": code_id, "login_token": token[:-2] + "xx"}))
    check(complete, await client.post(complete, {"code_id": "f" * 32}))

    sim.core.confirm(code_id)
    await wait_for(lambda: _status(client, code_id, "confirmed"))
    assert check(result, await client.post(result, {"code_id": code_id}))["auth"] is True
    script = AsyncClient()  # a client without the cookie, with the login_token in a JSON body
    check(complete, await script.post(complete, json.dumps({"code_id": code_id, "login_token": token}), content_type=JSON))
    assert check(complete, await client.post(complete, {"code_id": code_id}))["code"] == "already_completed"
    assert check(result, await client.post(result, {"code_id": code_id}))["status"] == "completed"

    # A disabled account: 403 `inactive`.
    await sync_to_async(User.objects.filter(mobile_number=PHONE).update)(is_active=False)
    again = check(code, await client.post(code, {"phone": PHONE}))
    sim.core.confirm(again["code_id"])
    await wait_for(lambda: _status(client, again["code_id"], "confirmed"))
    assert check(complete, await client.post(complete, {"code_id": again["code_id"]}))["code"] == "inactive"

    # Over the per-number hourly limit (5), then auth4app failing.
    for _ in range(3):
        check(code, await client.post(code, {"phone": PHONE}))
    check(code, await client.post(code, {"phone": PHONE}))
    sim.core.storage.set_setting("mode", "error")
    check(code, await client.post(code, {"phone": "+79991234569"}))

    # The database gone: Django's handler500 answers (tests/core/test_database_unavailable.py).
    try:
        raise OperationalError("connection refused")
    except OperationalError:
        check(complete, json_or_html_500(RequestFactory().post(complete)))

    # A body over the one size cap (core.request_limits).
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    for path in (code, result, complete):
        check(path, await client.post(path, json.dumps({"phone": "1" * 200}), content_type=JSON))

    documented = {(path, status) for path, (_, statuses) in DOCUMENTED.items() for status in statuses}
    assert conformance.seen == documented


async def _status(client, code_id, expected):
    response = await client.post("/proxy/auth/result", {"code_id": code_id})
    return json.loads(response.content).get("status") == expected
