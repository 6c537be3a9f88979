"""Enrol a staff user's authenticator app for the admin's second factor (django-otp TOTP)."""

from __future__ import annotations

import io
from base64 import b32encode
from urllib.parse import quote

import segno
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from core.phone import parse_mobile_number


def otpauth_url(device: TOTPDevice, *, account: str) -> str:
    """The Key URI authenticator apps read: secret first, then the issuer (the contract of issue 15)."""
    issuer = settings.OTP_TOTP_ISSUER.replace(":", "")
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return (
        f"otpauth://totp/{quote(f'{issuer}:{account}')}?secret={secret}&issuer={quote(issuer)}"
        f"&algorithm=SHA1&digits={device.digits}&period={device.step}"
    )


class Command(BaseCommand):
    help = (
        "Create a confirmed TOTP device for a staff user (the admin's second factor) and print its "
        "otpauth:// URL and a QR code to scan with an authenticator app. --reset replaces an existing device."
    )

    def add_arguments(self, parser):
        parser.add_argument("mobile_number", help="the staff user's mobile number (any format, e.g. +989121234567)")
        parser.add_argument("--reset", action="store_true", help="replace the user's TOTP devices (the old codes stop working)")
        parser.add_argument("--no-qr", action="store_true", help="print the URL only")

    def handle(self, *args, mobile_number: str, reset: bool, no_qr: bool, **options):
        try:
            number = parse_mobile_number(mobile_number)
        except ValidationError as exc:
            raise CommandError(f"{mobile_number!r}: {exc.messages[0]}") from None
        user = User.objects.filter(mobile_number=number).first()
        if user is None:
            raise CommandError(f"no user {number}: create one first (manage.py createsuperuser)")
        if not user.is_staff:
            raise CommandError(f"{number} is not a staff user: only staff use the admin")
        with transaction.atomic():
            existing = TOTPDevice.objects.select_for_update().filter(user=user)
            if existing.exists():
                if not reset:
                    raise CommandError(
                        f"{number} already has a TOTP device; --reset replaces it (codes of the old one stop working)"
                    )
                existing.delete()
            device = TOTPDevice.objects.create(user=user, name="admin", confirmed=True)
        url = otpauth_url(device, account=number)
        self.stdout.write(url)
        if not no_qr:
            drawing = io.StringIO()
            segno.make(url, error="m").terminal(out=drawing, compact=True)
            self.stdout.write(drawing.getvalue(), ending="")
        self.stderr.write(
            f"TOTP device for {number} {'replaced' if reset else 'created'}: scan the QR code (or enter the secret) "
            "in an authenticator app; the admin login then asks for its 6-digit code."
        )
