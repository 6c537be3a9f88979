"""The error answers every operation of the OpenAPI schema shares (SPECTACULAR_SETTINGS'
POSTPROCESSING_HOOKS), added where a view's own `extend_schema` does not list them:

- **401** on every operation that takes a token (a missing, expired or revoked one), body `ErrorBody`;
- **403** where a permission beyond "logged in" applies (`permission_denied`);
- **400** on every operation with a body or query parameters: a malformed body (`parse_error`), a
  service refusal (`ErrorBody`) or, on the DRF-compatible endpoints, field errors (`FieldErrors`);
- **404** on every operation with a path parameter (an id nobody has, or one the caller may not see);
- **413** on every operation with a body: over DATA_UPLOAD_MAX_MEMORY_SIZE (core.request_limits);
- on every documented **429**: the Retry-After header, and `ErrorBody` where the view gave no body.

The body shapes are written by core.errors; `code` is stable (docs/websocket.md, docs/sessions.md).
"""

from __future__ import annotations

import json

from rest_framework.permissions import AllowAny, IsAuthenticated

from core.errors import detail_body

ERROR_BODY = {
    "type": "object",
    "description": "A refusal: `detail` for the person (in the request's language), `code` for programs.",
    "required": ["detail", "code"],
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "stable: parse_error, not_authenticated, token_not_valid, "
                 "session_revoked, permission_denied, not_found, too_large, invalid, rate_limited, ..."},
        "retry_after": {"type": "integer", "description": "429 only: whole seconds (also in Retry-After)"},
        "error": {"type": "string", "description": "/proxy/* only (their seed-compatible shape): as `detail`"},
    },
}
FIELD_ERRORS = {
    "type": "object",
    "description": "Which fields were refused and why: `{field: [messages]}` (DRF's validation body, kept "
                   "for the django-chelseru and seed-compatible endpoints whose clients read it).",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
_REF = {"$ref": "#/components/schemas/ErrorBody"}
_FIELDS_REF = {"$ref": "#/components/schemas/FieldErrors"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _widen(response: dict, *extra: dict) -> None:
    """Let a documented JSON error answer also take the shared shapes (e.g. a 400 whose documented
    body is a service refusal can also be a parse error)."""
    content = response.setdefault("content", {})
    media = content.setdefault("application/json", {})
    schema = media.get("schema")
    options = [schema] if schema else []
    options += [s for s in extra if s not in options]
    media["schema"] = options[0] if len(options) == 1 else {"anyOf": options}


def _views(generator) -> dict:
    views = {}
    for path, _regex, method, callback in getattr(generator, "endpoints", None) or []:
        views[(path, method.lower())] = getattr(callback, "cls", None)
    return views


def _needs_permission(view_class) -> bool:
    if view_class is None:
        return False
    return any(p not in (AllowAny, IsAuthenticated) for p in getattr(view_class, "permission_classes", ()))


def _writes_detail_body(view_class) -> bool:
    # The compatible families (chelseru's, the seed's) describe their own bodies (core.errors).
    return view_class is not None and getattr(view_class, "error_body", detail_body) is detail_body


def _json_and_forms_only(operation: dict, schemas: dict) -> None:
    """Document multipart only where a file is uploaded (the avatar). Every other body is also read
    from multipart (DRF's default parsers, which django-chelseru's clients may use), but multipart
    carries no types: a body that is not an object at all arrives as an empty form, which a test
    generated from the schema would count as invalid data accepted."""
    content = operation.get("requestBody", {}).get("content", {})
    multipart = content.get("multipart/form-data")
    if multipart is None or "application/json" not in content:
        return
    schema = multipart.get("schema", {})
    if "$ref" in schema:
        schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
    if '"binary"' not in json.dumps(schema):
        del content["multipart/form-data"]


def document_errors(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorBody"] = ERROR_BODY
    schemas["FieldErrors"] = FIELD_ERRORS
    views = _views(generator)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            _json_and_forms_only(operation, schemas)
            security = operation.get("security")
            has_body = "requestBody" in operation
            has_query = any(p.get("in") == "query" for p in operation.get("parameters", []))
            if security:
                # Also where logging in is optional: a token that is sent must be valid.
                responses.setdefault("401", _json(_REF, "Not logged in: no token, or one that expired or was revoked"))
            if _needs_permission(views.get((path, method))):
                responses.setdefault("403", _json(_REF, "Not allowed for this user"))
            # /proxy/auth/* are plain Django views (auth4app/schema.py describes them, bodies included):
            # no DRF parser or field errors there.
            drf_view = not path.startswith("/proxy/")
            if (has_body or has_query) and drf_view:
                if "400" in responses:
                    _widen(responses["400"], _REF, _FIELDS_REF)
                else:
                    responses["400"] = _json({"anyOf": [_REF, _FIELDS_REF]}, "The request is malformed or refused")
            if has_body:
                responses.setdefault("413", _json(_REF, "The body is over DATA_UPLOAD_MAX_MEMORY_SIZE (`too_large`; "
                                                  "/proxy/* add `error`)"))
            if "429" in responses:
                # Every limit answers with Retry-After; a body the view left undescribed is ErrorBody.
                limited = responses["429"]
                if not limited.get("content") and _writes_detail_body(views.get((path, method))):
                    limited["content"] = {"application/json": {"schema": _REF}}
                    limited["description"] = "Too many requests"
                retry_after = limited.setdefault("headers", {}).setdefault("Retry-After", {
                    "description": "whole seconds to wait", "schema": {"type": "integer"}})
                retry_after["required"] = True
            if "{" in path:
                if "404" in responses:
                    _widen(responses["404"], _REF)
                else:
                    responses["404"] = _json(_REF, "No such object (or not one of yours)")
    return result
