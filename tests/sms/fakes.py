"""Fake SMS providers speaking each provider's wire format (see /work/shared/providers.md).

Each fake checks what the real gateway checks (credentials, signature, required fields) and
answers according to `mode`: "ok", "retryable", "permanent" or "timeout" (stalls past the
client's timeout). A request the real gateway would refuse gets the gateway's own refusal, so a
client that speaks the format wrongly fails the tests.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import threading
import time

from tests.fakes.http import Reply, Request

STALL_SECONDS = 3.0
_ids = itertools.count(1_000_001)


class FakeProvider:
    name = ""
    mode = "ok"

    def __init__(self):
        self.mode = "ok"
        self.modes: list[str] = []  # consumed first, one per call, then `mode`

    def __call__(self, request: Request) -> Reply:
        mode = self.modes.pop(0) if self.modes else self.mode
        if mode == "timeout":
            return Reply(200, {}, delay=STALL_SECONDS)
        return self.reply(request, mode)

    def reply(self, request: Request, mode: str) -> Reply:  # pragma: no cover - interface
        raise NotImplementedError

    # what the provider received, for assertions
    @staticmethod
    def sent_text(request: Request) -> str:
        raise NotImplementedError


class FakeKavenegar(FakeProvider):
    name = "kavenegar"
    config = {"API_KEY": "kave-test-key", "SENDER": "10004346", "OTP_TEMPLATE": "verify"}

    def reply(self, request: Request, mode: str) -> Reply:
        def error(status: int, message: str) -> Reply:
            return Reply(status, {"return": {"status": status, "message": message}, "entries": None})

        parts = request.path.strip("/").split("/")  # v1/{key}/{scope}/{method}.json
        if len(parts) != 4 or parts[0] != "v1" or parts[3].split(".")[-1] != "json":
            return error(404, "method not found")
        if parts[1] != self.config["API_KEY"]:
            return error(403, "invalid API-Key")
        form = request.params()
        method = f"{parts[2]}/{parts[3]}"
        if method == "sms/send.json":
            if not form.get("receptor") or not form.get("message"):
                return error(406, "required params empty")
        elif method == "verify/lookup.json":
            if not form.get("receptor") or not form.get("template") or not form.get("token"):
                return error(406, "required params empty")
            if " " in form["token"]:
                return error(431, "invalid token structure")
        else:
            return error(404, "method not found")
        if mode == "retryable":
            return error(409, "server busy")
        if mode == "permanent":
            return error(418, "insufficient credit")
        entry = {"messageid": next(_ids), "message": form.get("message") or form.get("token"), "status": 5,
                 "statustext": "sent to carrier", "sender": form.get("sender", "10004346"),
                 "receptor": form["receptor"], "date": 1356619709, "cost": 120}
        return Reply(200, {"return": {"status": 200, "message": "confirmed"}, "entries": [entry]})


class FakeMelipayamak(FakeProvider):
    name = "melipayamak"
    config = {"USERNAME": "meli-user", "PASSWORD": "meli-pass", "SENDER": "50004001", "OTP_BODY_ID": "12345"}

    def reply(self, request: Request, mode: str) -> Reply:
        form = request.params()
        if request.method != "POST" or not request.path.startswith("/api/SendSMS/"):
            return Reply(404, {"Message": "No HTTP resource was found"})
        if (form.get("username"), form.get("password")) != (self.config["USERNAME"], self.config["PASSWORD"]):
            return Reply(200, {"Value": "0", "RetStatus": 0, "StrRetStatus": "InvalidUserPass"})
        method = request.path.rsplit("/", 1)[-1]
        if method == "SendSMS":
            if not form.get("to") or not form.get("text") or not form.get("from"):
                return Reply(200, {"Value": "0", "RetStatus": 35, "StrRetStatus": "InvalidData"})
        elif method == "BaseServiceNumber":
            if not form.get("bodyId", "").isdigit() or not form.get("to") or "," in form["to"]:
                return Reply(200, {"Value": "-2", "RetStatus": 1, "StrRetStatus": "Ok"})
        else:
            return Reply(404, {"Message": "No HTTP resource was found"})
        if mode == "retryable":
            return Reply(500, {"Message": "An unexpected error occured"})
        if mode == "permanent":
            return Reply(200, {"Value": "5", "RetStatus": 9, "StrRetStatus": "InvalidNumber"})
        return Reply(200, {"Value": str(5243690627088685351 + next(_ids)), "RetStatus": 1, "StrRetStatus": "Ok"})


class FakeParsianwebco(FakeProvider):
    name = "parsianwebco"
    config = {"TOKEN": "parsian-token", "OTP_TEMPLATE_ID": "77"}

    def reply(self, request: Request, mode: str) -> Reply:
        if request.path != "/webservice-send-sms/send" or request.method != "POST":
            return Reply(404, "not found")
        if "x-www-form-urlencoded" not in request.headers.get("content-type", ""):
            return Reply(200, {"status": 100})
        form = request.form()
        if form.get("token") != self.config["TOKEN"]:
            return Reply(200, {"status": 401})
        if not form.get("TemplateID", "").isdigit() or not form.get("Receiver") or "MessageVars" not in form:
            return Reply(200, {"status": 100})
        if mode == "retryable":
            return Reply(503, "<html>Service Unavailable</html>", headers={"Content-Type": "text/html"})
        if mode == "permanent":
            return Reply(200, {"status": 401})
        return Reply(200, {"status": 200})


class FakeCloopen(FakeProvider):
    name = "cloopen"
    config = {"ACCOUNT_SID": "8a216da8test", "AUTH_TOKEN": "cloopen-token", "APP_ID": "app-1", "OTP_TEMPLATE_ID": "1"}

    def reply(self, request: Request, mode: str) -> Reply:
        def error(code: str, message: str) -> Reply:
            return Reply(200, {"statusCode": code, "statusMsg": message})

        sid = self.config["ACCOUNT_SID"]
        if request.path != f"/2013-12-26/Accounts/{sid}/SMS/TemplateSMS":
            return error("111100", "URL account format wrong")
        auth = request.headers.get("authorization", "")
        if not auth:
            return error("111101", "Authorization empty")
        try:
            account, timestamp = base64.b64decode(auth).decode().split(":")
        except ValueError:
            return error("111102", "Authorization base64 decode failed")
        if account != sid:
            return error("111107", "account in header differs from URL")
        expected = hashlib.md5(f"{sid}{self.config['AUTH_TOKEN']}{timestamp}".encode()).hexdigest().upper()
        if request.query.get("sig", [""])[0] != expected:
            return error("111109", "sig check failed")
        body = request.json()
        if body.get("appId") != self.config["APP_ID"]:
            return error("111181", "app not found")
        if not body.get("to"):
            return error("112300", "to empty")
        if not body.get("templateId") or not isinstance(body.get("datas"), list):
            return error("112307", "template id empty")
        if mode == "retryable":
            return error("160000", "system error")
        if mode == "permanent":
            return error("160042", "number format wrong")
        return Reply(200, {"statusCode": "000000", "templateSMS": {"dateCreated": "20130201155306",
                                                                  "smsMessageSid": f"ff8080813c373cab{next(_ids)}"}})


class FakeTwilio(FakeProvider):
    name = "twilio"
    config = {"ACCOUNT_SID": "AC" + "1" * 32, "AUTH_TOKEN": "twilio-token", "FROM": "+15005550006",
              "MESSAGING_SERVICE_SID": ""}

    def reply(self, request: Request, mode: str) -> Reply:
        def error(status: int, code: int, message: str) -> Reply:
            return Reply(status, {"code": code, "message": message,
                                  "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status})

        sid = self.config["ACCOUNT_SID"]
        if request.path != f"/2010-04-01/Accounts/{sid}/Messages.json":
            return error(404, 20404, "The requested resource was not found")
        expected = "Basic " + base64.b64encode(f"{sid}:{self.config['AUTH_TOKEN']}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return error(401, 20003, "Authenticate")
        form = request.form()
        if not form.get("To", "").startswith("+"):
            return error(400, 21211, f"The 'To' number {form.get('To')} is not a valid phone number.")
        if not (form.get("From") or form.get("MessagingServiceSid")) or not form.get("Body"):
            return error(400, 21602, "Message body is required.")
        if mode == "retryable":
            return error(429, 20429, "Too Many Requests")
        if mode == "permanent":
            return error(400, 21610, "Attempt to send to unsubscribed recipient")
        return Reply(201, {"sid": f"SM{next(_ids):032x}", "account_sid": sid, "to": form["To"],
                           "from": form.get("From"), "body": form["Body"], "status": "queued",
                           "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
                           "error_code": None, "error_message": None})


FAKES = {fake.name: fake for fake in (FakeKavenegar, FakeMelipayamak, FakeParsianwebco, FakeCloopen, FakeTwilio)}


def received_text(name: str, request: Request) -> str:
    """Everything a fake received that could carry the message, as one string."""
    if request.headers.get("content-type", "").startswith("application/json"):
        return str(request.json())
    return str(request.params())


class AcceptingTwilio:
    """Twilio's Messages API for fault drills: accepts every well-formed message, noting when it
    arrived (a provider accepts a message when it receives it, whatever happens to its reply), and
    answers after `reply_delay` seconds so that deliveries are in flight when a fault strikes."""

    CODE = re.compile(r"\b(\d{6})\b")

    def __init__(self, reply_delay: float = 0.0):
        self.twilio = FakeTwilio()
        self.reply_delay = reply_delay
        self.accepted: list[tuple[float, str, str]] = []  # (time.monotonic(), To, the code in Body)
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        reply = self.twilio(request)
        if reply.status == 201:
            form = request.form()
            match = self.CODE.search(form["Body"])
            with self._lock:
                self.accepted.append((time.monotonic(), form["To"], match.group(1) if match else ""))
        reply.delay = self.reply_delay
        return reply

    def env(self, url: str) -> dict[str, str]:
        """The settings that send every SMS of a server or worker process here."""
        config = self.twilio.config
        return {"SMS_PROVIDER": "twilio", "SMS_FALLBACK_PROVIDERS": "", "TWILIO_API_URL": url,
                "TWILIO_ACCOUNT_SID": config["ACCOUNT_SID"], "TWILIO_AUTH_TOKEN": config["AUTH_TOKEN"],
                "TWILIO_FROM": config["FROM"], "TWILIO_MESSAGING_SERVICE_SID": ""}

    def by_number(self) -> dict[str, list[tuple[float, str]]]:
        """Each number's acceptances, oldest first: [(time, code), ...]."""
        found: dict[str, list[tuple[float, str]]] = {}
        with self._lock:
            for at, to, code in self.accepted:
                found.setdefault(to, []).append((at, code))
        return found
