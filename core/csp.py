"""Content-Security-Policy on every HTML response (pages, admin, API docs).

The policy is one fixed string (settings.CONTENT_SECURITY_POLICY): no page has an inline script or
style, so it needs no nonces, and a view that needs another policy sets the header itself (the QR
code SVG, the API docs), which is then kept. Hand-written rather than django-csp because a static
header is all it takes, and django-csp builds the policy string for every response, the JSON API
responses on the login hot path included (docs/architecture.md).
"""

from __future__ import annotations

from django.conf import settings

HEADER = "Content-Security-Policy"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if HEADER not in response and response.get("Content-Type", "").startswith("text/html"):
            response[HEADER] = settings.CONTENT_SECURITY_POLICY
        return response


def with_policy(policy: str):
    """A view decorator: this view's responses carry `policy` instead of the site's."""

    def decorate(view):
        def wrapped(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            response[HEADER] = policy
            return response

        wrapped.__name__ = getattr(view, "__name__", "view")
        wrapped.__doc__ = view.__doc__
        wrapped.csrf_exempt = getattr(view, "csrf_exempt", False)
        return wrapped

    return decorate


# The development simulators' pages (auth4app, Weibo) stand in for another site and style themselves
# inline, which the site's policy (style-src 'self') forbids; everything else stays as strict.
DEV_SIMULATOR_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
