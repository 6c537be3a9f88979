from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import LoginSession, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-date_joined"]
    list_display = ["mobile_number", "is_active", "is_staff", "date_joined"]
    search_fields = ["mobile_number"]
    list_filter = ["is_active", "is_staff"]
    fieldsets = [
        (None, {"fields": ["mobile_number", "password"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["mobile_number", "password1", "password2"]})]


@admin.register(LoginSession)
class LoginSessionAdmin(admin.ModelAdmin):
    list_display = ["user", "login_method", "device", "ip", "created_at", "last_seen_at", "revoked_at"]
    search_fields = ["user__mobile_number", "ip"]
