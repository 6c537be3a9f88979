from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
from .models import Message


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "to", "purpose", "status", "provider", "attempts", "error_code", "created_at", "sent_at"]
    list_filter = ["status", "provider", "purpose"]
    search_fields = ["to"]
    date_hierarchy = "created_at"
    actions = ["retry_messages"]
    readonly_fields = [
        "to", "text", "template_id", "params", "purpose", "status", "provider", "provider_index",
        "provider_attempts", "attempts", "provider_message_id", "error_code", "last_error", "requested_by",
        "created_at", "updated_at", "next_attempt_at", "claimed_at", "lease_expires_at", "sent_at", "expires_at",
    ]

    def has_add_permission(self, request) -> bool:
        # SMS go out through sms.services only; the admin watches and retries.
        return False

    @admin.action(description=_("Retry selected failed messages"), permissions=["change"])
    def retry_messages(self, request, queryset):
        retried = sum(1 for message in queryset if services.message_retry(message=message))
        skipped = queryset.count() - retried
        self.message_user(
            request,
            ngettext("%(n)d message queued again.", "%(n)d messages queued again.", retried) % {"n": retried},
            messages.SUCCESS,
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(n)d skipped: not failed, or a one-time code that expired.",
                    "%(n)d skipped: not failed, or one-time codes that expired.",
                    skipped,
                )
                % {"n": skipped},
                messages.WARNING,
            )
