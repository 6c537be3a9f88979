"""Twilio Programmable Messaging: `POST /2010-04-01/Accounts/{Sid}/Messages.json`.

Wire format: HTTP Basic auth (AccountSid:AuthToken), form-encoded `To`, `From` or
`MessagingServiceSid`, `Body`; 201 with the message `sid`; errors `{"code", "message", "status"}`.
"""

from __future__ import annotations

from .base import OutgoingSMS, Provider, SendResult

# 20429 too many requests; the 5xx/429 HTTP statuses are retried as well.
RETRYABLE_CODES = {20429}


class TwilioProvider(Provider):
    name = "twilio"

    def _send(self, sms: OutgoingSMS) -> SendResult:
        sid, token = self.setting("ACCOUNT_SID"), self.setting("AUTH_TOKEN")
        data = {"To": sms.to, "Body": sms.text}
        if self.config.get("MESSAGING_SERVICE_SID"):
            data["MessagingServiceSid"] = self.config["MESSAGING_SERVICE_SID"]
        else:
            data["From"] = self.setting("FROM")
        response = self.http(
            "POST", f"{self.base_url()}/2010-04-01/Accounts/{sid}/Messages.json", data=data, auth=(sid, token),
            headers={"Accept": "application/json"},
        )
        if response.status_code in (200, 201):
            body = self.json_body(response)
            return SendResult.sent(body.get("sid", "") if isinstance(body, dict) else "")
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        code = body.get("code") or f"http_{response.status_code}"
        detail = str(body.get("message") or response.text[:200])
        if response.status_code >= 500 or response.status_code == 429 or code in RETRYABLE_CODES:
            return SendResult.retryable(code, detail)
        return SendResult.permanent(code, detail)
