"""Parsian Webco (api.parsianwebco.ir): template SMS only.

Wire format (no official docs; from independent clients): form-encoded POST to
`/webservice-send-sms/send` with `token`, `TemplateID`, `MessageVars` (comma-joined), `Receiver`,
`delay`; reply `{"status": 200 | 100 | 401}` (ok, failed, not authenticated).
"""

from __future__ import annotations

from .base import OutgoingSMS, Provider, SendResult, national_or_international


class ParsianwebcoProvider(Provider):
    name = "parsianwebco"

    def _send(self, sms: OutgoingSMS) -> SendResult:
        token = self.setting("TOKEN")
        if sms.code:
            template_id, variables = self.setting("OTP_TEMPLATE_ID"), (sms.code,)
        elif sms.template_id:
            template_id, variables = sms.template_id, sms.params or (sms.text,)
        else:
            return SendResult.permanent("template_required", "parsianwebco only sends templates: give a template_id")
        response = self.http(
            "POST",
            f"{self.base_url()}/webservice-send-sms/send",
            data={
                "token": token,
                "TemplateID": template_id,
                "MessageVars": ",".join(str(v) for v in variables),
                "Receiver": national_or_international(sms.to, 98),
                "delay": "1",
            },
            headers={"Accept": "application/json"},
        )
        if response.status_code >= 500 or response.status_code == 429:
            return SendResult.retryable(f"http_{response.status_code}", response.text[:200])
        body = self.json_body(response)
        status = body.get("status") if isinstance(body, dict) else None
        detail = str(body.get("message") or body.get("msg") or "") if isinstance(body, dict) else ""
        if str(status) == "200":
            message_id = next((body[k] for k in ("smsID", "sms_id", "id", "messageId") if body.get(k)), "")
            return SendResult.sent(message_id)
        if status is None:
            return SendResult.permanent(f"http_{response.status_code}", f"unexpected reply: {body!r}"[:200])
        # 100 "failed" says nothing about why; another provider is a better bet than the same one again.
        return SendResult.permanent(status, detail or {"100": "send failed", "401": "not authenticated"}.get(str(status), ""))
