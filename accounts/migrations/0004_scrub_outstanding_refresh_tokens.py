"""Replace every refresh token kept in full in simplejwt's outstanding-token table by its SHA-256
(what accounts.services.refresh_token_digest stores for new tokens): a database dump must not be a
set of live sessions. The jti beside it, which every lookup uses, is unchanged."""

import hashlib

from django.db import migrations

PREFIX = "sha256:"


def scrub(apps, schema_editor):
    OutstandingToken = apps.get_model("token_blacklist", "OutstandingToken")
    rows = OutstandingToken.objects.exclude(token__startswith=PREFIX).only("pk", "token")
    batch = []
    for row in rows.iterator(chunk_size=1000):
        row.token = PREFIX + hashlib.sha256(row.token.encode()).hexdigest()
        batch.append(row)
        if len(batch) == 1000:
            OutstandingToken.objects.bulk_update(batch, ["token"])
            batch = []
    if batch:
        OutstandingToken.objects.bulk_update(batch, ["token"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_user_profile_and_email_verification"),
        ("token_blacklist", "0013_alter_blacklistedtoken_options_and_more"),
    ]

    # Irreversible in effect (a hash cannot be turned back into a token); going back leaves the hashes.
    operations = [migrations.RunPython(scrub, migrations.RunPython.noop)]
