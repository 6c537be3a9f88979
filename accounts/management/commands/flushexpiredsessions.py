"""Delete login-session records that can no longer matter (run daily, e.g. from cron or a scheduler)."""

from django.core.management.base import BaseCommand, CommandError

from accounts.services import sessions_flush_expired


class Command(BaseCommand):
    help = (
        "Delete expired refresh-token records (ours and simplejwt's outstanding/blacklisted tokens) "
        "and login sessions that ended more than --keep-days days ago."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--keep-days",
            type=int,
            default=30,
            help="keep ended (revoked or expired) sessions this many days for the admin's history (default 30)",
        )

    def handle(self, *args, keep_days: int, **options):
        if keep_days < 0:
            raise CommandError("--keep-days must be 0 or more")
        result = sessions_flush_expired(keep_days=keep_days)
        self.stdout.write(
            f"deleted {result.sessions} ended session(s), {result.refresh_tokens} expired refresh-token record(s), "
            f"{result.outstanding_tokens} expired outstanding token(s)"
        )
