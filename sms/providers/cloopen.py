"""Ronglian Cloud / cloopen (app.cloopen.com:8883): `TemplateSMS`.

Wire format: POST JSON to `/2013-12-26/Accounts/{AccountSid}/SMS/TemplateSMS?sig=SIG` where
SIG = upper(md5(AccountSid + AuthToken + timestamp)), header `Authorization: base64(AccountSid:timestamp)`;
always HTTP 200 with a string `statusCode` ("000000" = ok).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from zoneinfo import ZoneInfo

import phonenumbers

from core import clock

from .base import OutgoingSMS, Provider, SendResult

# 111111 over concurrency, 160000 system error, 111000-111099 platform internal errors.
RETRYABLE_CODES = {"111111", "160000"}
_CHINA = ZoneInfo("Asia/Shanghai")


def _receiver(e164: str) -> str:
    number = phonenumbers.parse(e164)
    return str(number.national_number) if number.country_code == 86 else "00" + e164.lstrip("+")


def signature(account_sid: str, auth_token: str, timestamp: str) -> str:
    return hashlib.md5(f"{account_sid}{auth_token}{timestamp}".encode()).hexdigest().upper()


class CloopenProvider(Provider):
    name = "cloopen"

    def _send(self, sms: OutgoingSMS) -> SendResult:
        sid, token, app_id = self.setting("ACCOUNT_SID"), self.setting("AUTH_TOKEN"), self.setting("APP_ID")
        if sms.code:
            # The test template 1 reads "...验证码是{1}，请于{2}分钟内正确输入": code, then minutes.
            template_id, datas = self.setting("OTP_TEMPLATE_ID"), [sms.code, sms.ttl_minutes]
        elif sms.template_id:
            template_id, datas = sms.template_id, [str(v) for v in (sms.params or (sms.text,))]
        else:
            return SendResult.permanent("template_required", "cloopen only sends templates: give a template_id")
        timestamp = datetime.fromtimestamp(clock.timestamp(), _CHINA).strftime("%Y%m%d%H%M%S")
        response = self.http(
            "POST",
            f"{self.base_url()}/2013-12-26/Accounts/{sid}/SMS/TemplateSMS",
            params={"sig": signature(sid, token, timestamp)},
            json={"to": _receiver(sms.to), "appId": app_id, "templateId": str(template_id), "datas": datas},
            headers={
                "Accept": "application/json",
                "Content-Type": "application/json;charset=utf-8",
                "Authorization": base64.b64encode(f"{sid}:{timestamp}".encode()).decode(),
            },
        )
        if response.status_code >= 500 or response.status_code == 429:
            return SendResult.retryable(f"http_{response.status_code}", response.text[:200])
        body = self.json_body(response)
        code = str(body.get("statusCode", "")) if isinstance(body, dict) else ""
        if not code:
            return SendResult.permanent(f"http_{response.status_code}", f"unexpected reply: {body!r}"[:200])
        if code == "000000":
            return SendResult.sent((body.get("templateSMS") or {}).get("smsMessageSid", ""))
        detail = str(body.get("statusMsg") or "")
        if code in RETRYABLE_CODES or (code.isdigit() and 111000 <= int(code) <= 111099):
            return SendResult.retryable(code, detail)
        return SendResult.permanent(code, detail)
