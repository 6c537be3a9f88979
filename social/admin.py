"""Django admin: social identities, searchable by provider uid, with an unbind action; and the
user's identities inline on the user page.

Identities are never edited (the provider is the source of nickname and avatar) nor deleted row by
row: an administrator unbinds them through the same service as the API.
"""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.admin import UserAdmin

from . import services
from .models import SocialIdentity

_FIELDS = ["provider", "uid", "unionid", "user", "nickname", "avatar_url", "bound_at", "updated_at", "last_login_at"]


@admin.register(SocialIdentity)
class SocialIdentityAdmin(admin.ModelAdmin):
    list_display = ["provider", "nickname", "uid", "user", "bound_at", "last_login_at"]
    list_filter = ["provider", ("bound_at", admin.DateFieldListFilter)]
    # Exact matches on the uids (the unique index answers them); the number and nickname by substring.
    search_fields = ["=uid", "=unionid", "user__mobile_number", "nickname"]
    list_select_related = ["user"]
    fields = _FIELDS
    readonly_fields = _FIELDS
    actions = ["unbind_selected"]
    show_full_result_count = False

    @admin.action(description=_("Unbind selected identities"), permissions=["change"])
    def unbind_selected(self, request, queryset):
        count = services.identities_unbind(identity_ids=list(queryset.values_list("pk", flat=True)), by=request.user)
        self.message_user(
            request, ngettext("%d identity unbound.", "%d identities unbound.", count) % count, messages.SUCCESS
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the unbind action instead: one path for every unbinding

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class SocialIdentityInline(admin.TabularInline):
    model = SocialIdentity
    fk_name = "user"
    fields = ["link", "provider", "nickname", "uid", "bound_at", "last_login_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("social identities")

    @admin.display(description=_("identity"))
    def link(self, identity: SocialIdentity):
        url = reverse("admin:social_socialidentity_change", args=[identity.pk])
        return format_html('<a href="{}">{}</a>', url, identity.pk)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# The identities inline on the user page, added from here so that accounts knows nothing of social.
UserAdmin.inlines = [*UserAdmin.inlines, SocialIdentityInline]
