"""Development provider: the SMS goes to the server log (logger `sms.console`) and nowhere else."""

from __future__ import annotations

import logging
import uuid

from .base import OutgoingSMS, Provider, SendResult

logger = logging.getLogger("sms.console")


class ConsoleProvider(Provider):
    name = "console"

    def _send(self, sms: OutgoingSMS) -> SendResult:
        message_id = f"console-{uuid.uuid4().hex[:12]}"
        # Showing the text to a developer is this provider's whole job, so the one log line that carries
        # a login code is this one; it passes core.logging's redacting filter like every other record
        # (a token in the text is redacted). With DEBUG off this provider runs only on purpose
        # (SMS_ALLOW_DEV_PROVIDER=1, see config/settings.py).
        logger.info("SMS to %s: %s", sms.to, sms.text)
        return SendResult.sent(message_id)


