"""BENCH ONLY: the chat bench's users, tokens and rooms, built through the peer's own ORM.

    python manage.py bench_world --users 2000 --group 20@1000 --group 200@1020

The peer makes rooms bigger than two only through its ORM (`ChatRoomModel.objects.create(name=...)`
then `room.users.add(...)`, as its README says), so hotline's bench runs this with the peer's
virtualenv, as one would in `manage.py shell`, in bulk so that 2,000 users take a second.
Users are `09350000000`, `09350000001`, ... (the peer accepts `09` + 9 digits), each an auth user
with the peer's mobile record beside it, reused by later runs. Rooms named `bench ...` of earlier runs
are deleted first (with their messages). Prints one JSON object:
  {"users": [auth user ids], "tokens": [access tokens], "direct": [[room, a, b], ...],
   "groups": {"<members>": room}}
The direct rooms pair consecutive users (0-1, 2-3, ...); a group `M@O` holds users O .. O+M-1.
"""

import json

from django.contrib.auth.models import User as AuthUser
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from drfchelseru.models import ChatRoomModel, OTPModel, UserModel
from rest_framework_simplejwt.tokens import AccessToken

ROOM_PREFIX = "bench"


def mobiles(count: int) -> list[str]:
    return [f"0935{i:07d}" for i in range(count)]


class Command(BaseCommand):
    help = "Create the chat bench's users and rooms; print their ids and access tokens as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=0)
        parser.add_argument("--group", action="append", default=[], help="MEMBERS@OFFSET, repeatable")
        parser.add_argument("--clear-otp", action="store_true", help="delete every pending OTP code first")

    def handle(self, *args, users: int, group: list[str], clear_otp: bool, **options):
        if clear_otp:
            OTPModel.objects.all().delete()
        groups = []
        for spec in group:
            members, _, offset = spec.partition("@")
            groups.append((int(members), int(offset or 0)))
            if groups[-1][0] + groups[-1][1] > users:
                raise CommandError(f"group {spec} needs more than {users} users")
        with transaction.atomic():
            ids = self.users(mobiles(users))
            ChatRoomModel.objects.filter(name__startswith=ROOM_PREFIX).delete()
            pairs = [(ids[i], ids[i + 1]) for i in range(0, len(ids) - 1, 2)]
            direct = ChatRoomModel.objects.bulk_create(
                [ChatRoomModel(name=f"{ROOM_PREFIX} direct") for _ in pairs], batch_size=2000)
            made = {}
            for members, offset in groups:
                made[str(members)] = ChatRoomModel.objects.create(name=f"{ROOM_PREFIX} group {members}")
            through = ChatRoomModel.users.through
            rows = [through(chatroom_id=room.id, user_id=uid) for room, pair in zip(direct, pairs) for uid in pair]
            for members, offset in groups:
                rows += [through(chatroom_id=made[str(members)].id, user_id=uid)
                         for uid in ids[offset: offset + members]]
            through.objects.bulk_create(rows, batch_size=5000)
        by_id = AuthUser.objects.in_bulk(ids)
        tokens = [str(AccessToken.for_user(by_id[uid])) for uid in ids]
        self.stdout.write(json.dumps({
            "users": ids, "tokens": tokens,
            "direct": [[room.id, a, b] for room, (a, b) in zip(direct, pairs)],
            "groups": {size: room.id for size, room in made.items()},
        }))

    def users(self, numbers: list[str]) -> list[int]:
        """Auth users named as the peer's own signal names them (`G0-<mobile>`), with its mobile
        records; bulk_create skips the signal (and with it the phone-home call on every save)."""
        names = [f"G0-{n}" for n in numbers]
        have = set(AuthUser.objects.filter(username__in=names).values_list("username", flat=True))
        AuthUser.objects.bulk_create([AuthUser(username=name, password="!bench") for name in names if name not in have],
                                     batch_size=2000)
        by_name = dict(AuthUser.objects.filter(username__in=names).values_list("username", "id"))
        ids = [by_name[name] for name in names]
        linked = set(UserModel.objects.filter(user_id__in=ids).values_list("user_id", flat=True))
        UserModel.objects.bulk_create([UserModel(user_id=uid, mobile=number, group=0)
                                       for uid, number in zip(ids, numbers) if uid not in linked], batch_size=2000)
        return ids
