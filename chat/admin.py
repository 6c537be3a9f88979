from django.contrib import admin

from .models import Block, Invitation, Membership, Message, Room


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "title", "owner", "created_at"]
    list_filter = ["kind"]
    search_fields = ["title"]
    raw_id_fields = ["owner", "direct_low", "direct_high"]
    inlines = [MembershipInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "room", "sender", "created_at", "edited_at", "deleted_at", "withheld"]
    raw_id_fields = ["room", "sender"]
    search_fields = ["text"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["room", "user", "invited_by", "created_at"]
    raw_id_fields = ["room", "user", "invited_by"]


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ["blocker", "blocked", "created_at"]
    raw_id_fields = ["blocker", "blocked"]
