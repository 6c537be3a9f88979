"""Profiles: the display name, avatar and email a user sets, and the one shape in which other
users see them.

Writes of the profile live here rather than in accounts/services.py (sessions and tokens) so the
two stay small. Other apps learn of a change from the `profile_changed` signal, sent inside the
writing transaction: chat publishes `user.updated` to the people who share a room with the user
after commit, without accounts importing chat.

Another user is always shown as `public_user`: `{"id", "display_name", "avatar_url"}`, never the
mobile number (docs/websocket.md, "Phone-number privacy").
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import secrets
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.dispatch import Signal
from django.utils import translation
from django.utils.translation import gettext as _

from core import clock
from core.errors import ServiceError

from .models import EmailVerification, User
from .selectors import language_for_user

logger = logging.getLogger(__name__)

DISPLAY_NAME_MAX_LENGTH = 64
AVATAR_DIR = "avatars"
AVATAR_FORMATS = {"JPEG", "PNG", "WEBP"}
# Pixels decoded at most: a 2 MB PNG can claim a huge canvas (a decompression bomb).
AVATAR_MAX_PIXELS = 40_000_000
AVATAR_CONTENT_TYPE = "image/webp"
AVATAR_NAME = re.compile(r"^[0-9]+-[0-9a-f]{16}\.webp$")

# Sent inside the transaction that changed `user`'s public profile (name or avatar).
profile_changed = Signal()


class ProfileError(ServiceError):
    """A refused profile change: `ProfileError(code, detail)`, HTTP 400."""


# --- What others see -------------------------------------------------------------------------


def avatar_url(name: str) -> str | None:
    return default_storage.url(name) if name else None


def public_user(user: User) -> dict:
    """Another user as every API answer and frame shows them: no mobile number."""
    return {"id": user.pk, "display_name": user.display_name, "avatar_url": avatar_url(user.avatar)}


def me_payload(user: User) -> dict:
    """The user's own profile (`/api/me/`): their number too."""
    return {
        "id": user.pk,
        "mobile_number": str(user.mobile_number),
        "date_joined": user.date_joined.isoformat().replace("+00:00", "Z"),
        "display_name": user.display_name,
        "avatar_url": avatar_url(user.avatar),
        "email": user.email or None,
        "email_verified": bool(user.email and user.email_verified_at),
        "language": user.language,
    }


# --- Display name and email -------------------------------------------------------------------

_UNSET = object()


def _clean_display_name(value) -> str:
    if not isinstance(value, str):
        raise ProfileError("invalid", _("The display name must be text."))
    if len(value) > DISPLAY_NAME_MAX_LENGTH:  # as sent, as the schema's maxLength says, before cleaning
        raise ProfileError("invalid", _("The display name must have 1 to 64 characters."))
    # Control and format characters (newlines, bidi overrides) would let a name disguise itself.
    name = "".join(ch for ch in unicodedata.normalize("NFC", value) if unicodedata.category(ch)[0] != "C").strip()
    if not 1 <= len(name) <= DISPLAY_NAME_MAX_LENGTH:
        raise ProfileError("invalid", _("The display name must have 1 to 64 characters."))
    return name


def _clean_email(value) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > 254:
        raise ProfileError("invalid", _("Enter a valid email address."))
    value = value.strip()
    try:
        validate_email(value)
    except ValidationError:
        raise ProfileError("invalid", _("Enter a valid email address.")) from None
    local, _at, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def _clean_language(value) -> str:
    codes = [code for code, _name in settings.LANGUAGES]
    if value == "" or value in codes:
        return value
    raise ProfileError(
        "invalid", _("Unknown language: choose one of %(codes)s, or \"\" for none.") % {"codes": ", ".join(codes)}
    )


def profile_update(*, user: User, display_name=_UNSET, email=_UNSET, language=_UNSET, verify_url=None) -> User:
    """Change the display name, the email and/or the language. A new (or re-entered, unverified)
    email gets a verification link by email; `verify_url(token)` makes the link. An empty email
    removes it; an empty language forgets the choice (pages, SMS and emails then follow the browser
    and the number's country: accounts.selectors.language_for_user)."""
    # All are checked before any changes: a refused email leaves the name and language as they were.
    name = user.display_name if display_name is _UNSET else _clean_display_name(display_name)
    address = user.email if email is _UNSET else _clean_email(email)
    chosen = user.language if language is _UNSET else _clean_language(language)
    fields: list[str] = []
    if name != user.display_name:
        user.display_name = name
        fields.append("display_name")
    if chosen != user.language:
        user.language = chosen
        fields.append("language")
    send_link = False
    if email is not _UNSET:
        if address != user.email:
            user.email, user.email_verified_at = address, None
            fields += ["email", "email_verified_at"]
        send_link = bool(address) and user.email_verified_at is None
    if not fields and not send_link:
        return user
    with transaction.atomic():
        if fields:
            user.save(update_fields=fields)
        if send_link:
            if verify_url is None:
                raise ValueError("a new email needs verify_url to build its link")
            _email_verification_send(user=user, verify_url=verify_url)
        if "display_name" in fields:
            profile_changed.send(sender=User, user=user)
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _email_verification_send(*, user: User, verify_url) -> None:
    # Earlier links of this user stop working: only the newest one verifies.
    EmailVerification.objects.filter(user=user, used_at__isnull=True).update(used_at=clock.now())
    token = secrets.token_urlsafe(32)
    EmailVerification.objects.create(user=user, email=user.email, token_hash=_token_hash(token))
    link = verify_url(token)
    address = user.email
    hours = settings.EMAIL_VERIFICATION_HOURS
    # In the user's language (docs/i18n.md); without a choice or a country of ours, in the language of
    # the page that set the email.
    language = language_for_user(user, fallback=translation.get_language())

    def deliver():
        with translation.override(language):
            subject = _("Confirm your email for hotline")
            body = _(
                "Open this link to confirm your email address (it works once, for %(hours)s hours):\n\n%(link)s\n"
            ) % {"hours": hours, "link": link}
        try:
            send_mail(subject, body, None, [address], fail_silently=False)
        except Exception:  # the profile keeps the email unverified; setting it again sends a new link
            logger.exception("verification email to user %s could not be sent", user.pk)

    transaction.on_commit(deliver)


def email_verify(*, token: str) -> User | None:
    """Verify the email of a link's token: the user, or None when the token is unknown, used,
    older than EMAIL_VERIFICATION_HOURS or for an email the user no longer has. One use only:
    of concurrent openings, one conditional UPDATE wins."""
    if not isinstance(token, str) or not 10 <= len(token) <= 100:
        return None
    now = clock.now()
    with transaction.atomic():
        found = EmailVerification.objects.select_related("user").filter(token_hash=_token_hash(token)).first()
        if found is None:
            return None
        claimed = EmailVerification.objects.filter(
            pk=found.pk, used_at__isnull=True, created_at__gt=now - timedelta(hours=settings.EMAIL_VERIFICATION_HOURS)
        ).update(used_at=now)
        user = found.user
        if not claimed or user.email != found.email or not user.is_active:
            return None
        user.email_verified_at = now
        user.save(update_fields=["email_verified_at"])
    return user


# --- Avatar -----------------------------------------------------------------------------------


def _reencode_avatar(upload) -> bytes:
    """The upload checked as a JPEG, PNG or WebP image by Pillow and redrawn as a square
    AVATAR_SIZE px WebP: what is stored and served is always our own encoding."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    too_large = ProfileError("too_large", _("The picture is larger than 2 MB."))
    if upload is None or not hasattr(upload, "read"):
        raise ProfileError("invalid", _("Send the picture as the multipart field \"avatar\"."))
    if getattr(upload, "size", 0) > settings.AVATAR_MAX_BYTES:
        raise too_large
    data = upload.read(settings.AVATAR_MAX_BYTES + 1)
    if len(data) > settings.AVATAR_MAX_BYTES:
        raise too_large
    not_an_image = ProfileError("invalid_image", _("The file is not a JPEG, PNG or WebP picture."))
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in AVATAR_FORMATS:
                raise not_an_image
            if probe.width * probe.height > AVATAR_MAX_PIXELS:
                raise ProfileError("invalid_image", _("The picture has too many pixels."))
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image = ImageOps.exif_transpose(image)
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            image = image.convert("RGBA" if has_alpha else "RGB")
            size = settings.AVATAR_SIZE
            square = ImageOps.fit(image, (size, size), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            square.save(out, "WEBP", quality=85, method=4)
    except ProfileError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise not_an_image from None
    return out.getvalue()


def avatar_set(*, user: User, upload) -> User:
    """Store a new avatar (re-encoded) and drop the old file once the change is committed."""
    encoded = _reencode_avatar(upload)
    name = default_storage.save(f"{AVATAR_DIR}/{user.pk}-{secrets.token_hex(8)}.webp", ContentFile(encoded))
    old = user.avatar
    try:
        with transaction.atomic():
            user.avatar = name
            user.save(update_fields=["avatar"])
            profile_changed.send(sender=User, user=user)
    except Exception:
        default_storage.delete(name)
        raise
    if old:
        transaction.on_commit(lambda: _delete_file(old))
    return user


def avatar_delete(*, user: User) -> User:
    old = user.avatar
    if not old:
        return user
    with transaction.atomic():
        user.avatar = ""
        user.save(update_fields=["avatar"])
        profile_changed.send(sender=User, user=user)
    transaction.on_commit(lambda: _delete_file(old))
    return user


def _delete_file(name: str) -> None:
    try:
        default_storage.delete(name)
    except Exception:  # a file left behind costs disk, not correctness
        logger.warning("could not delete old avatar %s", name, exc_info=True)


def avatar_file_name(name: str) -> str | None:
    """The storage name for a served avatar file name, or None if it is not one of ours."""
    return f"{AVATAR_DIR}/{name}" if AVATAR_NAME.fullmatch(name or "") else None
