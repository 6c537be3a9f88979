"""WeChat mini-program login: `wx.login()` code -> `sns/jscode2session` (providers.md section 8).

GET `{WECHAT_API_URL}/sns/jscode2session?appid&secret&js_code&grant_type=authorization_code`
-> `{"openid", "session_key", "unionid"?}` or `{"errcode", "errmsg"}` (HTTP 200 either way; a missing
errcode means 0). The openid is the identity's uid. `session_key` is dropped here: it is never
returned, logged or stored. WeChat has no profile call for a mini-program login: the nickname and
avatar are what the mini-program sends (the person chose to share them).
"""

from __future__ import annotations

from .base import CodeRejected, ProviderIdentity, ProviderUnavailable, SocialProvider

# 40029 invalid js_code, 40163 code been used, 40226 code blocked (high-risk user): the code is no
# good. Everything else (-1 busy, 45011 frequency limit, 40013/40125 bad appid/secret, ...) is ours
# or WeChat's trouble.
REJECTED_CODE_ERRORS = {"40029", "40163", "40226"}


class WechatMiniProgramProvider(SocialProvider):
    name = "wechat_mp"
    kind = "code"
    required_settings = ("APPID", "SECRET", "API_URL")

    def identity_from_code(self, code: str, *, nickname: str = "", avatar_url: str = "") -> ProviderIdentity:
        response = self.http(
            "GET",
            f"{self.config['API_URL'].rstrip('/')}/sns/jscode2session",
            params={
                "appid": self.config["APPID"],
                "secret": self.config["SECRET"],
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        body = self.json_object(response)
        errcode = str(body.get("errcode") or 0)
        if errcode != "0":
            # errmsg carries WeChat's request id ("rid: ..."), useful in the log; nothing secret.
            detail = str(body.get("errmsg") or "")
            raise (CodeRejected if errcode in REJECTED_CODE_ERRORS else ProviderUnavailable)(self.name, errcode, detail)
        if response.status_code != 200:
            raise ProviderUnavailable(self.name, f"http_{response.status_code}", "")
        openid = body.get("openid")
        if not isinstance(openid, str) or not openid:
            raise ProviderUnavailable(self.name, "bad_reply", "the reply has no openid")
        unionid = body.get("unionid")
        return ProviderIdentity(
            provider=self.name,
            uid=openid,
            unionid=unionid if isinstance(unionid, str) else "",
            nickname=nickname,
            avatar_url=avatar_url,
        )
