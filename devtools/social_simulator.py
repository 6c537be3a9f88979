"""Local stand-ins for Weibo and WeChat speaking their exact wire formats (../shared/providers.md
sections 7 and 8), so the project's real provider code runs against them.

Two simulators, each served two ways (like auth4app's):
- as Django views at `/dev/weibo/` and `/dev/wechat/` when DEBUG is on and the provider has no keys
  (devtools/social_views.py), with their state in Django's cache;
- standalone on 127.0.0.1 (`SimulatorServer(WeiboSimulator(...))`) for tests, in memory, where a test
  can make every API call fail (`failure`) or stall (`delay`) and count the calls (`calls`).

Weibo (root = WEIBO_API_URL):
  GET  oauth2/authorize      client_id, redirect_uri, response_type=code, state -> a page to pick a fake user
  POST oauth2/authorize      uid (or deny=1) -> 302 to redirect_uri?code=..&state=.. (or ?error=access_denied..)
  POST oauth2/access_token   client_id, client_secret, grant_type, code, redirect_uri (form or query)
                             -> {"access_token", "expires_in", "remind_in", "uid", "isRealName"}
                             or 400 {"error", "error_code", "request", "error_uri", "error_description"}
  GET  2/users/show.json     access_token, uid -> the profile, or 400 {"request", "error_code", "error"}
  GET  avatar/<uid>.svg      the fake users' avatars (so no page loads anything from elsewhere)
WeChat (root = WECHAT_API_URL):
  GET  sns/jscode2session    appid, secret, js_code, grant_type -> {"openid", "session_key", "unionid"}
                             or {"errcode", "errmsg"} (HTTP 200, Content-Type text/plain like WeChat's)
  GET  wx.login?user=NAME    not WeChat's: what `wx.login()` gives a mini-program, {"code": ...}

This module imports nothing from Django, so a test or a benchmark can run it in any process.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode

from devtools.localhttp import LocalHTTPServer, LocalReply, LocalRequest, parse_params

CODE_TTL_SECONDS = 300  # Weibo codes and js_codes: ~5 minutes, single use


@dataclass
class SimReply:
    status: int
    body: dict | str
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class MemoryStore:
    """Key-value records with a lifetime, in one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, object]] = {}

    def put(self, key: str, value: object, ttl: int) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + ttl, value)

    def get(self, key: str):
        with self._lock:
            expires, value = self._items.get(key, (0.0, None))
            return value if expires > time.monotonic() else None

    def take(self, key: str):
        """Get and forget (single use)."""
        with self._lock:
            expires, value = self._items.pop(key, (0.0, None))
            return value if expires > time.monotonic() else None


def _route(path: str, *names: str) -> str | None:
    clean = path.rstrip("/")
    return next((name for name in names if clean == name or clean.endswith("/" + name)), None)


@dataclass
class _Simulator:
    store: object = field(default_factory=MemoryStore)
    public_url: str = "http://127.0.0.1"
    # Tests: every provider API call answers `failure` (after `delay` seconds) instead of its real reply.
    failure: SimReply | None = None
    delay: float = 0.0
    calls: Counter = field(default_factory=Counter)

    def _api(self, name: str, handler, *args) -> SimReply:
        self.calls[name] += 1
        reply = self.failure or handler(*args)
        reply.delay = self.delay
        return reply


# --- Weibo ------------------------------------------------------------------------------------

FAKE_WEIBO_USERS = [
    {"uid": "1404376560", "screen_name": "zaku", "location": "北京 朝阳区", "gender": "m", "color": "#e6162d"},
    {"uid": "2803301701", "screen_name": "小明", "location": "上海 浦东新区", "gender": "m", "color": "#ff8200"},
    {"uid": "5973812066", "screen_name": "Han Meimei", "location": "广东 广州", "gender": "f", "color": "#2a7ae2"},
]


@dataclass
class WeiboSimulator(_Simulator):
    client_id: str = "hotline-dev-weibo"
    client_secret: str = "hotline-dev-weibo-secret"
    redirect_uri: str = ""  # the registered one; "" accepts any (a test that does not care)
    users: list[dict] = field(default_factory=lambda: [dict(u) for u in FAKE_WEIBO_USERS])

    def handle(self, method: str, path: str, params: dict) -> SimReply:
        route = _route(path, "oauth2/authorize", "oauth2/access_token", "2/users/show.json")
        if route == "oauth2/authorize":
            return self.authorize_page(params) if method == "GET" else self.authorize_decide(params)
        if route == "oauth2/access_token":
            return self._api(route, self.access_token, method, params)
        if route == "2/users/show.json":
            return self._api(route, self.users_show, params)
        folder, _, name = ("/" + path).rpartition("/")
        if folder.endswith("/avatar") and name.endswith(".svg"):
            return self.avatar(name[: -len(".svg")])
        return SimReply(404, {"error": "not found"})

    # --- the browser's part -----------------------------------------------------------------------

    def _app_problem(self, params: dict) -> str | None:
        if params.get("client_id") != self.client_id:
            return "21323 invalid_request: unknown client_id"
        if self.redirect_uri and params.get("redirect_uri") != self.redirect_uri:
            return "21322 redirect_uri_mismatch"
        return None

    def authorize_page(self, params: dict) -> SimReply:
        problem = self._app_problem(params) or (None if params.get("response_type") == "code" else "21329 unsupported_response_type")
        if problem:
            return SimReply(400, _page("Weibo simulator: error", f"<p>{html.escape(problem)}</p>"), "text/html; charset=utf-8")
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(str(params.get(name, "")))}">'
            for name in ("client_id", "redirect_uri", "state")
        )
        buttons = "".join(
            f'<li><button type="submit" name="uid" value="{user["uid"]}">'
            f'<img src="{self.avatar_url(user["uid"])}" alt="" width="32" height="32"> '
            f'Log in as {html.escape(user["screen_name"])}</button></li>'
            for user in self.users
        )
        body = (
            f"<p>Development only: no request leaves this machine. App <code>{html.escape(self.client_id)}</code> "
            "asks to know who you are on Weibo. Pick a fake Weibo user:</p>"
            f'<form method="post" action="authorize">{hidden}<ul>{buttons}</ul>'
            '<button type="submit" name="deny" value="1">Cancel (deny access)</button></form>'
        )
        return SimReply(200, _page("Weibo simulator: authorize", body), "text/html; charset=utf-8")

    def authorize_decide(self, params: dict) -> SimReply:
        problem = self._app_problem(params)
        if problem:
            return SimReply(400, _page("Weibo simulator: error", f"<p>{html.escape(problem)}</p>"), "text/html; charset=utf-8")
        target = params.get("redirect_uri") or self.redirect_uri
        state = params.get("state", "")
        if params.get("deny"):
            query = {"error": "access_denied", "error_code": "21330", "error_description": "user denied", "state": state}
        else:
            code = self.issue_code(str(params.get("uid", "")), redirect_uri=target)
            if code is None:
                return SimReply(400, _page("Weibo simulator: error", "<p>unknown user</p>"), "text/html; charset=utf-8")
            query = {"code": code, "state": state}
        separator = "&" if "?" in target else "?"
        return SimReply(302, "", "text/plain", {"Location": f"{target}{separator}{urlencode(query)}"})

    def issue_code(self, uid: str, *, redirect_uri: str = "") -> str | None:
        """The authorization code Weibo would put in the redirect after this user agreed."""
        if not any(user["uid"] == uid for user in self.users):
            return None
        code = secrets.token_hex(16)
        self.store.put(f"weibo:code:{code}", {"uid": uid, "redirect_uri": redirect_uri}, CODE_TTL_SECONDS)
        return code

    # --- the server's part ----------------------------------------------------------------------

    def access_token(self, method: str, params: dict) -> SimReply:
        def oauth_error(error_code: int, error: str, description: str) -> SimReply:
            return SimReply(400, {"error": error, "error_code": error_code, "request": "/oauth2/access_token",
                                  "error_uri": "/oauth2/access_token", "error_description": description})

        if method != "POST":
            return oauth_error(21323, "invalid_request", "HTTP METHOD is not suported for this request!")
        if params.get("client_id") != self.client_id or params.get("client_secret") != self.client_secret:
            return oauth_error(21324, "invalid_client", "invalid client")
        if params.get("grant_type") != "authorization_code":
            return oauth_error(21328, "unsupported_grant_type", "unsupported grant type")
        code = str(params.get("code") or "")
        record = self.store.take(f"weibo:code:{code}") if code else None
        if record is None:
            return oauth_error(21325, "invalid_grant", f"invalid authorization code:{code}")
        if params.get("redirect_uri") != record["redirect_uri"] and record["redirect_uri"]:
            return oauth_error(21322, "redirect_uri_mismatch", "redirect_uri_mismatch")
        access_token = "2.00" + secrets.token_hex(14)
        self.store.put(f"weibo:token:{access_token}", record["uid"], 3600)
        return SimReply(200, {"access_token": access_token, "expires_in": 157679999, "remind_in": "157679999",
                              "uid": record["uid"], "isRealName": "true"})

    def users_show(self, params: dict) -> SimReply:
        uid = self.store.get(f"weibo:token:{params.get('access_token') or ''}")
        if uid is None:
            return SimReply(400, {"request": "/2/users/show.json", "error_code": 21332, "error": "invalid_access_token"})
        wanted = str(params.get("uid") or "")
        user = next((u for u in self.users if u["uid"] == wanted), None)
        if user is None:
            return SimReply(400, {"request": "/2/users/show.json", "error_code": 20003, "error": "User does not exists!"})
        avatar = self.avatar_url(user["uid"])
        return SimReply(200, {
            "id": int(user["uid"]), "idstr": user["uid"], "screen_name": user["screen_name"], "name": user["screen_name"],
            "province": "11", "city": "5", "location": user["location"], "description": "", "url": "",
            "profile_image_url": avatar, "avatar_large": avatar, "avatar_hd": avatar, "domain": "", "gender": user["gender"],
            "followers_count": 0, "friends_count": 0, "statuses_count": 0,
            "created_at": "Fri Aug 28 00:00:00 +0800 2009", "verified": False,
        })

    def avatar_url(self, uid: str) -> str:
        # Like Weibo's current image URLs, the path does not name the account.
        return f"{self.public_url}/avatar/{_avatar_name(uid)}.svg"

    def avatar(self, name: str) -> SimReply:
        user = next((u for u in self.users if _avatar_name(u["uid"]) == name), None)
        if user is None:
            return SimReply(404, {"error": "not found"})
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">'
            f'<rect width="64" height="64" rx="32" fill="{user["color"]}"/>'
            '<text x="32" y="42" font-size="28" text-anchor="middle" fill="#fff" font-family="sans-serif">'
            f'{html.escape(user["screen_name"][:1].upper())}</text></svg>'
        )
        return SimReply(200, svg, "image/svg+xml")


def _avatar_name(uid: str) -> str:
    return hashlib.sha256(f"avatar|{uid}".encode()).hexdigest()[:20]


# --- WeChat mini-program ------------------------------------------------------------------------


def _wechat_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return prefix + base64.urlsafe_b64encode(digest).decode()[:27]


@dataclass
class WechatSimulator(_Simulator):
    appid: str = "wxhotlinedev0000"
    secret: str = "hotline-dev-wechat-secret"
    with_unionid: bool = True  # the mini-program is bound to an Open Platform account

    def handle(self, method: str, path: str, params: dict) -> SimReply:
        route = _route(path, "sns/jscode2session", "wx.login")
        if route == "sns/jscode2session":
            return self._api(route, self.jscode2session, method, params)
        if route == "wx.login":
            return SimReply(200, {"code": self.wx_login(str(params.get("user") or "dev"))})
        return SimReply(404, {"errcode": 40066, "errmsg": f"invalid url rid: {secrets.token_hex(4)}"})

    def wx_login(self, user: str) -> str:
        """The js_code `wx.login()` gives the mini-program of `user` (a name standing for a WeChat user)."""
        code = secrets.token_hex(16)
        self.store.put(f"wechat:code:{code}", {"user": user[:64], "used": False}, CODE_TTL_SECONDS)
        return code

    def openid(self, user: str) -> str:
        return _wechat_id("o", self.appid, user)

    def unionid(self, user: str) -> str:
        return _wechat_id("u", "open-platform", user)

    def jscode2session(self, method: str, params: dict) -> SimReply:
        def error(errcode: int, errmsg: str) -> SimReply:
            return SimReply(200, {"errcode": errcode, "errmsg": f"{errmsg}, rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}"},
                            "text/plain")

        if method != "GET" or not params.get("appid"):
            return error(41002, "appid missing")
        if params.get("appid") != self.appid:
            return error(40013, "invalid appid")
        if params.get("secret") != self.secret:
            return error(40125, "invalid appsecret")
        code = str(params.get("js_code") or "")
        if not code:
            return error(41008, "missing code")
        key = f"wechat:code:{code}"
        record = self.store.get(key)
        if record is None:
            return error(40029, "invalid code")
        if record["used"]:
            return error(40163, "code been used")
        self.store.put(key, {**record, "used": True}, CODE_TTL_SECONDS)
        body = {"session_key": base64.b64encode(secrets.token_bytes(16)).decode(), "openid": self.openid(record["user"])}
        if self.with_unionid:
            body["unionid"] = self.unionid(record["user"])
        return SimReply(200, body, "text/plain")


# --- serving ---------------------------------------------------------------------------------------


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}"
        "ul{list-style:none;padding:0}li{margin:.5rem 0}button{font-size:1rem;padding:.5rem 1rem;"
        "display:flex;align-items:center;gap:.5rem}img{border-radius:50%}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def encode(reply: SimReply) -> bytes:
    return reply.body.encode() if isinstance(reply.body, str) else json.dumps(reply.body, ensure_ascii=False).encode()


class SimulatorServer:
    """A simulator over HTTP on 127.0.0.1: `with SimulatorServer(WeiboSimulator()) as sim: sim.url`."""

    def __init__(self, simulator: WeiboSimulator | WechatSimulator, *, port: int = 0):
        self.simulator = simulator
        self._http = LocalHTTPServer(self._respond, port=port)
        simulator.public_url = self.url

    def _respond(self, request: LocalRequest) -> LocalReply:
        params = parse_params(request.query, request.headers.get("content-type", ""), request.body)
        reply = self.simulator.handle(request.method, request.path, params)
        headers = {"Content-Type": reply.content_type, **reply.headers}
        return LocalReply(reply.status, encode(reply), headers, reply.delay)

    @property
    def url(self) -> str:
        return self._http.url

    def __enter__(self) -> "SimulatorServer":
        self._http.start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.stop()
