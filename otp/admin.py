from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import Challenge

# Challenge.status's values, as the admin shows them.
STATUS_LABELS = {
    "active": _("active"),
    "used": _("used"),
    "superseded": _("superseded"),
    "exhausted": _("exhausted"),
    "expired": _("expired"),
}


@admin.register(Challenge)
class ChallengeAdmin(admin.ModelAdmin):
    """Read-only: challenges are evidence of who asked for codes, never edited by hand.
    The code's HMAC is not shown (it is useless to a person and needn't leave the database)."""

    list_display = ["mobile_number", "state", "attempts", "max_attempts", "created_at", "expires_at", "requested_ip"]
    list_filter = [("consumed_at", admin.EmptyFieldListFilter), ("superseded_at", admin.EmptyFieldListFilter)]
    search_fields = ["mobile_number", "requested_ip"]
    date_hierarchy = "created_at"
    fields = ["id", "mobile_number", "state", "attempts", "max_attempts", "created_at", "expires_at",
              "consumed_at", "superseded_at", "requested_ip"]
    readonly_fields = fields

    @admin.display(description=_("status"))
    def state(self, obj: Challenge) -> str:
        return STATUS_LABELS.get(obj.status, obj.status)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
