"""Outbox upkeep: purge old finished messages, and queue again what a restart left behind."""

from django.conf import settings
from django.core.management.base import BaseCommand

from sms import services


class Command(BaseCommand):
    help = (
        "Delete sent/failed SMS older than --purge-days (default SMS_OUTBOX_RETENTION_DAYS) and, with "
        "--requeue, queue every due message again and fail those stuck in `sending` past their lease."
    )

    def add_arguments(self, parser):
        parser.add_argument("--purge-days", type=int, default=settings.SMS_OUTBOX_RETENTION_DAYS)
        parser.add_argument("--no-purge", action="store_true", help="do not delete anything")
        parser.add_argument("--requeue", action="store_true", help="queue due messages again (after a restart)")

    def handle(self, *args, purge_days: int, no_purge: bool, requeue: bool, **options):
        if purge_days < 1:
            self.stderr.write("--purge-days must be at least 1")
            return
        if requeue:
            self.stdout.write(f"queued {services.outbox_requeue_due()} message(s) again")
        if not no_purge:
            deleted = services.outbox_purge(older_than_days=purge_days)
            self.stdout.write(f"deleted {deleted} message(s) older than {purge_days} day(s)")
