"""Secrets at rest (issue 15): no table keeps a refresh or access token, and the migration scrubs the
tokens stored in full before it."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts import services

SCRUB_MIGRATION = ("accounts", "0004_scrub_outstanding_refresh_tokens")


@pytest.mark.django_db
def test_no_table_keeps_a_token(user_factory, login):
    result = login(user_factory())
    rotated = services.session_refresh(refresh=result.refresh)

    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    text = dump.getvalue()
    for token in (result.refresh, result.access, rotated.refresh, rotated.access):
        assert token not in text
        assert token.rsplit(".", 1)[1] not in text  # not even the signature
    stored = OutstandingToken.objects.get(jti=services.SessionRefreshJWT(rotated.refresh)["jti"]).token
    assert stored == services.refresh_token_digest(rotated.refresh)


@pytest.mark.django_db(transaction=True)
def test_the_migration_scrubs_tokens_stored_in_full(user_factory):
    # The user first, with today's model: going back also unapplies later migrations of accounts
    # (the user's language), whose columns today's model would write.
    user = user_factory()
    executor = MigrationExecutor(connection)
    before = [node.key for node in executor.loader.graph.node_map[SCRUB_MIGRATION].parents if node.key[0] == "accounts"]
    executor.migrate(before)
    try:
        # The migration changes data only, so today's token model writes rows as they were before it.
        Historical = OutstandingToken
        plain = "eyJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2lnbmF0dXJl"
        Historical.objects.create(user_id=user.pk, jti="old-jti", token=plain, expires_at=timezone.now() + timedelta(days=1))
        already = services.refresh_token_digest("another")
        Historical.objects.create(user_id=user.pk, jti="new-jti", token=already, expires_at=timezone.now())

        executor = MigrationExecutor(connection)
        executor.migrate([SCRUB_MIGRATION])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert OutstandingToken.objects.get(jti="old-jti").token == services.refresh_token_digest(plain)
    assert OutstandingToken.objects.get(jti="new-jti").token == already  # hashed once, not twice
