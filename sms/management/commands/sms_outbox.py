"""Outbox upkeep by hand: purge old finished messages, and take back what dead workers left.

Beat does both on its schedule (CELERY_BEAT_SCHEDULE in settings); this command is for manual use."""

from django.conf import settings
from django.core.management.base import BaseCommand

from sms import services


class Command(BaseCommand):
    help = (
        "Delete sent/failed SMS older than --purge-days (default SMS_OUTBOX_RETENTION_DAYS) and, with "
        "--requeue, queue again the messages whose worker's lease ran out and those whose task was lost "
        "(beat does both on its own; see docs/sms.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--purge-days", type=int, default=settings.SMS_OUTBOX_RETENTION_DAYS)
        parser.add_argument("--no-purge", action="store_true", help="do not delete anything")
        parser.add_argument("--requeue", action="store_true", help="run the outbox sweep once now")

    def handle(self, *args, purge_days: int, no_purge: bool, requeue: bool, **options):
        if purge_days < 1:
            self.stderr.write("--purge-days must be at least 1")
            return
        if requeue:
            requeued = services.outbox_requeue_expired()
            self.stdout.write(
                f"queued {requeued.interrupted + requeued.lost} message(s) again "
                f"({requeued.interrupted} interrupted, {requeued.lost} with a lost task)"
            )
        if not no_purge:
            deleted = services.outbox_purge(older_than_days=purge_days)
            self.stdout.write(f"deleted {deleted} message(s) older than {purge_days} day(s)")
