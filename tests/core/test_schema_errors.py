"""The OpenAPI schema documents the error answers every operation can give (core/schema.py)."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_operation_that_takes_a_token_documents_401_with_a_code(schema):
    secured = [(p, m, o) for p, m, o in operations(schema) if o.get("security")]
    assert len(secured) > 30
    for path, method, operation in secured:
        answer = operation["responses"].get("401")
        assert answer, f"{method.upper()} {path} does not document 401"


def test_bodies_and_path_ids_document_400_404_and_413(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        if "requestBody" in operation:
            assert {"400", "413"} <= set(responses), f"{method.upper()} {path}: {sorted(responses)}"
        if "{" in path:
            assert "404" in responses, f"{method.upper()} {path}: {sorted(responses)}"


def test_the_shared_error_body_requires_a_code_and_every_429_says_retry_after(schema):
    assert schema["components"]["schemas"]["ErrorBody"]["required"] == ["detail", "code"]
    limited = [(p, m, o["responses"]["429"]) for p, m, o in operations(schema) if "429" in o["responses"]]
    assert ("/api/chat/rooms/", "post") in {(p, m) for p, m, _ in limited}
    for path, method, answer in limited:
        assert answer["headers"]["Retry-After"]["required"] is True, f"{method.upper()} {path}"


def test_staff_only_operations_document_403(schema):
    assert "403" in schema["paths"]["/api/message/send/"]["post"]["responses"]
