"""A deactivated or deleted user loses every session at once."""

from __future__ import annotations

from django.db.models.signals import pre_delete, pre_save
from django.dispatch import receiver

from .models import User


@receiver(pre_save, sender=User)
def _end_sessions_on_deactivate(sender, instance: User, **kwargs):
    if instance.pk is None or instance.is_active:
        return
    was_active = User.objects.filter(pk=instance.pk, is_active=True).exists()
    if was_active:
        from .services import sessions_revoke_for_user

        sessions_revoke_for_user(user=instance, reason="user_deactivated")


@receiver(pre_delete, sender=User)
def _end_sessions_on_delete(sender, instance: User, **kwargs):
    from .services import sessions_revoke_for_user

    sessions_revoke_for_user(user=instance, reason="user_deleted")
