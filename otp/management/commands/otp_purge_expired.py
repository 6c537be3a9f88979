"""Delete OTP challenges that expired a while ago (run it from cron, e.g. hourly)."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand

from otp.services import challenges_purge_expired


class Command(BaseCommand):
    help = "Delete OTP challenges whose code expired more than --older-than seconds ago."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than", type=int, default=86400,
            help="keep challenges that expired less than this many seconds ago (default 86400: a day of evidence)",
        )

    def handle(self, *args, older_than: int, **options):
        deleted = challenges_purge_expired(older_than=timedelta(seconds=max(0, older_than)))
        self.stdout.write(f"deleted {deleted} expired OTP challenge(s)")
