"""Django admin for users and their login sessions.

Sessions are read-only records: an administrator ends them (never edits or deletes them), through
the same service as the API, so an admin revoke has the same real-time effect.
"""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from . import services
from .models import LoginSession, User

Reason = LoginSession.RevokeReason

# simplejwt's outstanding/blacklisted-token pages duplicate the sessions below and used to show each
# refresh token in full; sessions are managed here, tokens are nobody's to read.
for _model in (OutstandingToken, BlacklistedToken):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class SessionActiveFilter(admin.SimpleListFilter):
    title = _("active")
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.active()
        if self.value() == "no":
            return queryset.inactive()
        return queryset


_SESSION_FIELDS = [
    "id",
    "user",
    "login_method",
    "ip",
    "device",
    "browser",
    "os",
    "user_agent",
    "created_at",
    "last_seen_at",
    "expires_at",
    "revoked_at",
    "revoked_by",
    "revoke_reason",
]


@admin.register(LoginSession)
class LoginSessionAdmin(admin.ModelAdmin):
    list_display = ["user", "login_method", "device", "browser", "ip", "created_at", "last_seen_at", "active"]
    list_filter = [SessionActiveFilter, "login_method", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["user__mobile_number", "ip"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    fields = _SESSION_FIELDS
    readonly_fields = _SESSION_FIELDS
    actions = ["revoke_selected"]
    show_full_result_count = False

    @admin.display(boolean=True, description=_("active"))
    def active(self, session: LoginSession) -> bool:
        return session.revoked_at is None and session.expires_at > timezone.now()

    @admin.action(description=_("Revoke selected sessions"), permissions=["change"])
    def revoke_selected(self, request, queryset):
        count = services.sessions_revoke(
            session_ids=list(queryset.values_list("pk", flat=True)),
            by=request.user,
            reason=Reason.ADMIN,
            request=request,
        )
        self.message_user(
            request,
            ngettext("%d session revoked.", "%d sessions revoked.", count) % count,
            messages.SUCCESS,
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleting a row would skip the revoke (cache, events); old rows go by flushexpiredsessions.
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class LoginSessionInline(admin.TabularInline):
    model = LoginSession
    fk_name = "user"
    fields = ["link", "login_method", "device", "browser", "os", "ip", "created_at", "last_seen_at", "revoked_at", "revoke_reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-created_at"]
    verbose_name_plural = _("login sessions")

    @admin.display(description=_("session"))
    def link(self, session: LoginSession):
        from django.urls import reverse
        from django.utils.html import format_html

        url = reverse("admin:accounts_loginsession_change", args=[session.pk])
        return format_html('<a href="{}">{}</a>', url, session.pk[:8])

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-date_joined"]
    list_display = ["mobile_number", "is_active", "is_staff", "date_joined", "active_sessions"]
    search_fields = ["mobile_number"]
    list_filter = ["is_active", "is_staff", "language"]
    fieldsets = [
        (None, {"fields": ["mobile_number", "password", "language"]}),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["mobile_number", "password1", "password2"]})]
    inlines = [LoginSessionInline]
    actions = ["revoke_all_sessions"]

    @admin.display(description=_("active sessions"))
    def active_sessions(self, user: User) -> int:
        return user.active_session_count

    def get_queryset(self, request):
        from django.db.models import Count

        active = Q(login_sessions__revoked_at__isnull=True, login_sessions__expires_at__gt=timezone.now())
        return super().get_queryset(request).annotate(active_session_count=Count("login_sessions", filter=active))

    @admin.action(description=_("Revoke all sessions"), permissions=["change"])
    def revoke_all_sessions(self, request, queryset):
        count = 0
        for user in queryset:
            count += services.sessions_revoke_for_user(user=user, by=request.user, reason=Reason.ADMIN, request=request)
        self.message_user(
            request,
            ngettext("%d session revoked.", "%d sessions revoked.", count) % count,
            messages.SUCCESS,
        )

    def get_inline_instances(self, request, obj=None):
        # No inline on the add form: a new user has no sessions.
        return super().get_inline_instances(request, obj) if obj is not None else []
