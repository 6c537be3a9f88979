"""An SMS provider for the real-process tests, chosen by its dotted path (SMS_PROVIDER accepts one;
the outbox keeps at most 32 characters of a provider's name, hence the short one).

It behaves like the console provider (the code is in the worker's log, for the test to read), except
for two kinds of number: one ending in 0002 is refused for good (a permanent failure, as a gateway
says "bad number"), one ending in 0001 makes the adapter crash, as a bug would, with the code, the
whole number and credentials in the exception's text and a log line before it: what must never
reach Sentry.
"""

from __future__ import annotations

import logging

from sms.providers.base import SendResult
from sms.providers.console import ConsoleProvider

logger = logging.getLogger("tests.smsgw")

LEAKED_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjo0Miwic2lkIjoiYWJjIn0.c2VjcmV0LXNpZ25hdHVyZQ"
LEAKED_API_KEY = "prov-key-5f3a9c1d7e"


class Scripted(ConsoleProvider):
    name = "scripted"

    def _send(self, sms):
        if sms.to.endswith("0002"):
            return SendResult.permanent("bad_number", "the gateway refused the number")
        if sms.to.endswith("0001"):
            logger.info("about to send %r to %s with api_key=%s", sms.text, sms.to, LEAKED_API_KEY)
            raise RuntimeError(
                f"gateway choked on {sms.to}: {sms.text!r} code={sms.code} "
                f"Authorization: Bearer {LEAKED_JWT} url=https://gw.example/send?api_key={LEAKED_API_KEY}"
            )
        return super()._send(sms)
