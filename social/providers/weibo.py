"""Weibo web login: OAuth2 authorization-code grant (wire format: ../shared/providers.md section 7).

1. The browser goes to `{WEIBO_API_URL}/oauth2/authorize?client_id&redirect_uri&response_type=code&state`.
2. Weibo sends it back to WEIBO_REDIRECT_URI with `?code=..&state=..` (or `?error=..&error_code=..`).
3. `identity_from_code`: POST `oauth2/access_token` (form: client_id, client_secret, grant_type,
   code, redirect_uri) -> `{"access_token", "expires_in", "uid"}`; then GET `2/users/show.json`
   (access_token, uid) for the nickname and avatar. The access token is used for that one call only.

`uid` comes from the token reply's `uid` field and `access_token` from its `access_token` field (one
of the write-ups swapped them); the profile's `idstr` must name the same account.
"""

from __future__ import annotations

from urllib.parse import urlencode

from .base import CodeRejected, ProviderIdentity, ProviderUnavailable, SocialProvider

# OAuth errors that mean "this code is no good" rather than "Weibo or our app setup is failing":
# 21325 invalid_grant (code invalid, expired or used).
REJECTED_CODE_ERRORS = {"21325"}


class WeiboProvider(SocialProvider):
    name = "weibo"
    kind = "redirect"
    required_settings = ("CLIENT_ID", "CLIENT_SECRET", "REDIRECT_URI", "API_URL")

    @property
    def api_url(self) -> str:
        return self.config["API_URL"].rstrip("/")

    def authorize_url(self, *, state: str) -> str:
        query = urlencode(
            {
                "client_id": self.config["CLIENT_ID"],
                "redirect_uri": self.config["REDIRECT_URI"],
                "response_type": "code",
                "state": state,
            }
        )
        return f"{self.api_url}/oauth2/authorize?{query}"

    def identity_from_code(self, code: str) -> ProviderIdentity:
        access_token, uid = self._exchange(code)
        profile = self._profile(access_token, uid)
        return ProviderIdentity(
            provider=self.name,
            uid=uid,
            nickname=str(profile.get("screen_name") or profile.get("name") or "")[:100],
            avatar_url=_avatar(profile, uid),
        )

    def _exchange(self, code: str) -> tuple[str, str]:
        response = self.http(
            "POST",
            f"{self.api_url}/oauth2/access_token",
            data={
                "client_id": self.config["CLIENT_ID"],
                "client_secret": self.config["CLIENT_SECRET"],
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.config["REDIRECT_URI"],
            },
        )
        body = self.json_object(response)
        self._raise_for_error(body, response.status_code)
        access_token, uid = body.get("access_token"), body.get("uid")
        if not isinstance(access_token, str) or not access_token or uid in (None, ""):
            raise ProviderUnavailable(self.name, "bad_reply", "the token reply has no access_token or uid")
        return access_token, str(uid)

    def _profile(self, access_token: str, uid: str) -> dict:
        response = self.http("GET", f"{self.api_url}/2/users/show.json", params={"access_token": access_token, "uid": uid})
        body = self.json_object(response)
        self._raise_for_error(body, response.status_code)
        if str(body.get("idstr") or body.get("id") or "") != uid:
            raise ProviderUnavailable(self.name, "bad_reply", "users/show answered for another account")
        return body

    def _raise_for_error(self, body: dict, status: int) -> None:
        """Weibo's error envelopes: `{"error", "error_code", ...}` (error_code an int or a string)."""
        error_code = body.get("error_code")
        if error_code is None and status == 200:
            return
        code = str(error_code) if error_code is not None else f"http_{status}"
        detail = str(body.get("error") or "")  # never error_description: it repeats the code we sent
        if code in REJECTED_CODE_ERRORS:
            raise CodeRejected(self.name, code, detail)
        raise ProviderUnavailable(self.name, code, detail)


def _avatar(profile: dict, uid: str) -> str:
    """An avatar the pages may show: an absolute http(s) URL of reasonable length that does not name the
    account (Weibo's older avatar URLs carry the uid, `http://tp1.sinaimg.cn/<uid>/180/...`, and the
    uid never reaches a client), else nothing."""
    text = str(profile.get("avatar_large") or profile.get("profile_image_url") or "")
    if not text.startswith(("https://", "http://")) or len(text) > 500 or uid in text:
        return ""
    return text
