"""Encryption of the one-time code while it waits in the outbox.

Why encrypt instead of passing the code only in the task payload: the outbox row must be enough
to deliver the message after any crash (a lost broker message, a restarted embedded process,
an admin's retry), so the code has to be stored somewhere durable, but a database dump, a
replica or the admin must never show it. The row keeps a masked text and a Fernet token
(AES-128-CBC + HMAC-SHA256) of the code under a key derived from SMS_SECRET_KEY; the token is
wiped as soon as delivery is final.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"hotline.sms.secret:" + settings.SMS_SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str | None:
    """The clear value, or None when the token is empty or was made with another key."""
    if not token:
        return None
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None
