"""Chat's stable error codes, shared by the REST views (as HTTP statuses) and the socket (as error
frames): core.errors.ServiceError renders both."""

from __future__ import annotations

from django.utils.translation import gettext as _

# BACKEND_ERRORS: a socket frame that meets one is answered with an `unavailable` error frame.
from core.errors import BACKEND_ERRORS, RateLimited, ServiceError  # noqa: F401


class ChatError(ServiceError):
    """A refusal with a stable `code`; `status` is its HTTP status on the REST API:
    `ChatError(code, detail, status=..., retry_after=...)`."""


def not_found(detail: str | None = None) -> ChatError:
    # Non-members get the same answer as for a room that does not exist: rooms are not enumerable.
    return ChatError("not_found", detail or _("No such room."), status=404)


def forbidden(detail: str) -> ChatError:
    return ChatError("forbidden", detail, status=403)


def invalid(detail: str) -> ChatError:
    return ChatError("invalid", detail, status=400)


def too_long(limit: int) -> ChatError:
    return ChatError("too_long", _("Text is longer than %(limit)d characters.") % {"limit": limit}, status=400)


def rate_limited(retry_after: int, detail: str | None = None) -> RateLimited:
    # `detail` is a whole sentence (one catalog entry), never a prefix glued to another.
    return RateLimited(retry_after, detail or _("Too many messages. Try again later."))


def not_registered() -> ChatError:
    # Only for a number typed in full: that number has no account (look-ups are rate limited).
    return ChatError("not_registered", _("Nobody with this number uses hotline."), status=404)


def user_not_found() -> ChatError:
    # The same answer for an id nobody has and for someone the caller cannot see: ids cannot be walked.
    return ChatError("user_not_found", _("No such user."), status=404)


def unavailable() -> ChatError:
    # Redis or the database failed (down, or a pool exhausted under a burst). Every frame is safe to
    # send again: message.send is idempotent by its client_id, the others have no lasting effect.
    return ChatError("unavailable", _("The service is briefly unavailable; send the frame again."), status=503)
