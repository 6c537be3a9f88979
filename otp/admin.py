from django.contrib import admin

from .models import Challenge


@admin.register(Challenge)
class ChallengeAdmin(admin.ModelAdmin):
    """Read-only: challenges are evidence of who asked for codes, never edited by hand.
    The code's HMAC is not shown (it is useless to a person and needn't leave the database)."""

    list_display = ["mobile_number", "status", "attempts", "max_attempts", "created_at", "expires_at", "requested_ip"]
    list_filter = [("consumed_at", admin.EmptyFieldListFilter), ("superseded_at", admin.EmptyFieldListFilter)]
    search_fields = ["mobile_number", "requested_ip"]
    date_hierarchy = "created_at"
    fields = ["id", "mobile_number", "status", "attempts", "max_attempts", "created_at", "expires_at",
              "consumed_at", "superseded_at", "requested_ip"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
