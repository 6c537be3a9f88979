"""One request-body size cap for every view: DATA_UPLOAD_MAX_MEMORY_SIZE.

Django enforces it only where `request.body` or `request.POST` is read; DRF's parsers read the
request stream themselves and would take a 10 MB JSON body in full. This middleware refuses any
body whose declared length is over the cap before a view (or a parser) reads a byte of it.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _


def body_too_large_response(path: str) -> JsonResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    detail = _("The request body is too large (at most %(limit)d bytes).") % {"limit": limit}
    body = {"detail": detail, "code": "too_large"}
    if path.startswith("/proxy/"):
        body = {"error": detail, **body}  # the seed-compatible shape (core.errors.error_key_body)
    return JsonResponse(body, status=413)


class BodySizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit:
            return body_too_large_response(request.path)
        return self.get_response(request)
