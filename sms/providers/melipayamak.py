"""MeliPayamak (rest.payamak-panel.com): REST `SendSMS` for text, `BaseServiceNumber` (an approved
pattern, `bodyId`) for templates and one-time codes.

Wire format: form-encoded POST with `username`/`password`, reply `{"Value", "RetStatus", "StrRetStatus"}`,
RetStatus 1 = ok and Value = the message's recId.
"""

from __future__ import annotations

from .base import OutgoingSMS, Provider, ProviderFailure, SendResult, national_or_international

# 6: "system is updating" - the only documented status that is about the gateway, not the request.
RETRYABLE_STATUSES = {6}


class MelipayamakProvider(Provider):
    name = "melipayamak"

    def _send(self, sms: OutgoingSMS) -> SendResult:
        auth = {"username": self.setting("USERNAME"), "password": self.setting("PASSWORD")}
        to = national_or_international(sms.to, 98)
        otp_body_id = str(self.config.get("OTP_BODY_ID") or "")
        if sms.code and otp_body_id:
            method, data = "BaseServiceNumber", {"text": sms.code, "to": to, "bodyId": otp_body_id}
        elif sms.template_id:
            variables = ";".join(str(v) for v in (sms.params or (sms.text,)))
            method, data = "BaseServiceNumber", {"text": variables, "to": to, "bodyId": sms.template_id}
        else:
            method = "SendSMS"
            data = {"to": to, "from": self.setting("SENDER"), "text": sms.text, "isFlash": "false"}
        response = self.http("POST", f"{self.base_url()}/api/SendSMS/{method}", data={**auth, **data},
                             headers={"Accept": "application/json"})
        return self._result(response, pattern=method == "BaseServiceNumber")

    def _result(self, response, *, pattern: bool) -> SendResult:
        if response.status_code >= 500 or response.status_code == 429:
            detail = response.text[:200]
            try:
                detail = str(response.json().get("Message") or detail)
            except (ValueError, AttributeError):
                pass
            return SendResult.retryable(f"http_{response.status_code}", detail)
        body = self.json_body(response)
        if not isinstance(body, dict) or "RetStatus" not in body:
            raise ProviderFailure(SendResult.permanent(f"http_{response.status_code}", f"unexpected reply: {body!r}"[:200]))
        status, value, detail = body.get("RetStatus"), str(body.get("Value") or ""), str(body.get("StrRetStatus") or "")
        if status == 1 and response.status_code == 200:
            # BaseServiceNumber reports its own errors as small or negative numbers in Value.
            if pattern and (not value.lstrip("-").isdigit() or int(value) < 1000):
                return SendResult.permanent(f"value_{value}", detail or "pattern send refused")
            return SendResult.sent(value)
        if status in RETRYABLE_STATUSES:
            return SendResult.retryable(status, detail)
        return SendResult.permanent(status, detail)
