"""Chat rooms, their members and their messages.

Message ids come from a BigAutoField and increase with time; within one room they are also
committed in id order (message_send locks the room row), which is what makes "replay every
message with id > LAST_ID" exact after a reconnect.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Room(models.Model):
    class Kind(models.TextChoices):
        DIRECT = "direct", _("Direct")
        GROUP = "group", _("Group")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=100, blank=True, default="")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_rooms",
        verbose_name=_("owner"),
    )
    # The ordered pair of a direct room (low id, high id): the unique constraint below keeps one
    # direct room per pair even when both users open it at the same moment.
    direct_low = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        verbose_name=_("direct room: member with the lower id"),
    )
    direct_high = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        verbose_name=_("direct room: member with the higher id"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="chat_rooms", verbose_name=_("members")
    )

    class Meta:
        verbose_name = _("chat room")
        verbose_name_plural = _("chat rooms")
        constraints = [
            models.UniqueConstraint(
                fields=["direct_low", "direct_high"], condition=Q(kind="direct"), name="chat_one_direct_room_per_pair"
            ),
            models.CheckConstraint(
                condition=Q(kind="group") | (Q(direct_low__isnull=False) & Q(direct_high__isnull=False)),
                name="chat_direct_room_has_pair",
            ),
        ]

    def __str__(self) -> str:
        if self.title:
            return self.title
        return _("%(kind)s room %(id)s") % {"kind": self.get_kind_display(), "id": self.pk}


class Membership(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("room"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_memberships", verbose_name=_("user")
    )
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now)
    # The member's read marker: the highest message id read in this room; it never moves back.
    last_read_id = models.BigIntegerField(_("read up to message"), default=0)
    # Direct rooms: this member opened the room by typing the other member's number, so the room
    # shows them that number (the one place another user's number is returned; docs/websocket.md).
    peer_number_known = models.BooleanField(_("sees the other member's number"), default=False)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="chat_one_membership_per_user")]
        indexes = [models.Index(fields=["user", "room"])]


class Message(models.Model):
    id = models.BigAutoField(primary_key=True)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages", verbose_name=_("room"))
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages", verbose_name=_("sender")
    )
    text = models.TextField(_("text"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    # Chosen by the client so a retry of the same send returns the same message.
    client_id = models.CharField(_("client id"), max_length=64, null=True, blank=True)
    edited_at = models.DateTimeField(_("edited at"), null=True, blank=True)
    # A deleted message keeps its row (and id) as a tombstone; its text is erased.
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)
    # The room's newest message id when this message was last edited or deleted. A subscribe with
    # `after` = N replays the changes with revision >= N: every change a client with cursor N can
    # have missed was made while the room's newest id was at least N.
    revision = models.BigIntegerField(_("revision"), null=True, blank=True)
    # A direct message to someone who blocked the sender: stored and acknowledged (blocking is
    # silent), shown to its sender only.
    withheld = models.BooleanField(
        _("withheld"), default=False, db_default=False,
        help_text=_("Sent to someone who blocked the sender: only the sender sees it."),
    )

    class Meta:
        verbose_name = _("chat message")
        verbose_name_plural = _("chat messages")
        constraints = [
            models.UniqueConstraint(
                fields=["room", "sender", "client_id"],
                condition=Q(client_id__isnull=False),
                name="chat_one_message_per_client_id",
            )
        ]
        indexes = [
            models.Index(fields=["room", "id"]),
            models.Index(fields=["room", "revision"], condition=Q(revision__isnull=False), name="chat_message_changes"),
        ]


class Invitation(models.Model):
    """An invitation to a group for someone who shares no room with its owner: they are no member,
    see nothing and are not seen until they accept."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("room"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_invitations", verbose_name=_("invitee")
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("invited by")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="chat_one_invitation_per_user")]


class Block(models.Model):
    """`blocker` gets no direct messages, invitations or typing from `blocked`; silent to `blocked`."""

    blocker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_blocks", verbose_name=_("blocked by")
    )
    blocked = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("blocked user")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("block")
        verbose_name_plural = _("blocks")
        constraints = [models.UniqueConstraint(fields=["blocker", "blocked"], name="chat_one_block_per_pair")]
