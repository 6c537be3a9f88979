"""A deactivated or deleted user loses every session at once (tokens refused, sockets closed 4401).

Only saves and deletes through the ORM's model methods send these signals: a bulk
`User.objects.update(is_active=False)` does not, so call `sessions_revoke_for_user` after one.
"""

from __future__ import annotations

from django.db.models.signals import post_save, pre_delete, pre_save
from django.dispatch import receiver

from .models import LoginSession, User


@receiver(pre_save, sender=User)
def _note_deactivation(sender, instance: User, **kwargs):
    # Decided before the save (the row still says whether the user was active), acted on after it,
    # so a save that fails does not end sessions.
    instance._hotline_deactivating = bool(
        instance.pk is not None
        and not instance.is_active
        and User.objects.filter(pk=instance.pk, is_active=True).exists()
    )


@receiver(post_save, sender=User)
def _end_sessions_on_deactivate(sender, instance: User, created: bool, **kwargs):
    if getattr(instance, "_hotline_deactivating", False):
        instance._hotline_deactivating = False
        from .services import sessions_revoke_for_user

        sessions_revoke_for_user(user=instance, reason=LoginSession.RevokeReason.USER_DEACTIVATED)


@receiver(pre_delete, sender=User)
def _end_sessions_on_delete(sender, instance: User, **kwargs):
    from .services import sessions_revoke_for_user

    sessions_revoke_for_user(user=instance, reason=LoginSession.RevokeReason.USER_DELETED)
