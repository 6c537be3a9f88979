"""Kavenegar (api.kavenegar.com): `sms/send` for text, `verify/lookup` for templates and one-time codes.

Wire format: API key in the path, form-encoded POST, reply `{"return": {"status", "message"},
"entries": [...]}`; on errors the HTTP status equals `return.status`.
"""

from __future__ import annotations

from .base import OutgoingSMS, Provider, ProviderFailure, SendResult, national_or_international

# 409 server busy, 451 too many calls from this IP in the time window: worth trying again later.
RETRYABLE_STATUSES = {409, 451}


class KavenegarProvider(Provider):
    name = "kavenegar"

    def _send(self, sms: OutgoingSMS) -> SendResult:
        key = self.setting("API_KEY")
        receptor = national_or_international(sms.to, 98)
        otp_template = str(self.config.get("OTP_TEMPLATE") or "")
        if sms.code and otp_template:
            method = "verify/lookup"
            data = {"receptor": receptor, "template": otp_template, "token": sms.code}
        elif sms.template_id:
            method = "verify/lookup"
            data = {"receptor": receptor, "template": sms.template_id}
            # token, token2, token3 may not contain spaces (Kavenegar's rule; its SDKs use '-').
            for name, value in zip(("token", "token2", "token3"), sms.params or (sms.text,)):
                data[name] = str(value).replace(" ", "-")
        else:
            method = "sms/send"
            data = {"receptor": receptor, "message": sms.text}
            if self.config.get("SENDER"):
                data["sender"] = self.config["SENDER"]
        response = self.http(
            "POST", f"{self.base_url()}/v1/{key}/{method}.json", data=data, headers={"Accept": "application/json"}
        )
        return self._result(response)

    def _result(self, response) -> SendResult:
        body = self.json_body(response)
        envelope = body.get("return") if isinstance(body, dict) else None
        if not isinstance(envelope, dict):
            raise ProviderFailure(
                SendResult.retryable(f"http_{response.status_code}", "no return envelope")
                if response.status_code >= 500
                else SendResult.permanent(f"http_{response.status_code}", "no return envelope")
            )
        status = int(envelope.get("status") or response.status_code)
        detail = str(envelope.get("message") or "")
        if status == 200 and response.status_code == 200:
            entries = body.get("entries") or []
            message_id = entries[0].get("messageid") if entries and isinstance(entries[0], dict) else ""
            return SendResult.sent(message_id)
        if status in RETRYABLE_STATUSES or status >= 500 or response.status_code >= 500:
            return SendResult.retryable(status, detail)
        return SendResult.permanent(status, detail)
