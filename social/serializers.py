"""Shapes of the social endpoints. Rules live in `social.services`."""

from __future__ import annotations

from rest_framework import serializers

from otp.serializers import AuthenticateInput, LoginOutput  # noqa: F401 - LoginOutput is the 200 body here too

# Named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]: chat's room `kind` is another enum.
PROVIDER_KINDS = ["redirect", "code"]


class ProviderOutput(serializers.Serializer):
    provider = serializers.ChoiceField(choices=["weibo", "wechat_mp"])
    kind = serializers.ChoiceField(choices=PROVIDER_KINDS, help_text="redirect: browser OAuth2; code: an app's login code")


class WeiboStartOutput(serializers.Serializer):
    authorize_url = serializers.URLField(help_text="send the browser here; Weibo returns it to WEIBO_REDIRECT_URI")
    state = serializers.CharField(help_text="single use, 10 minutes, valid only with this browser's hotline_oauth cookie")


class WeiboCallbackInput(serializers.Serializer):
    code = serializers.CharField(max_length=256)
    # Not required here: a missing state is the service's 400 invalid_state, like a wrong one.
    state = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")


class WechatLoginInput(serializers.Serializer):
    code = serializers.CharField(max_length=256, help_text="the code from wx.login()")
    nickname = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    avatar_url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")


class ProfileOutput(serializers.Serializer):
    nickname = serializers.CharField()
    avatar_url = serializers.CharField()


class BindPendingOutput(serializers.Serializer):
    bind_token = serializers.CharField(help_text="opaque, single use; POST it to /api/oauth/bind/")
    provider = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="seconds the bind token stays valid (600)")
    profile = ProfileOutput()


class BindInput(AuthenticateInput):
    """The bind token plus the phone proof of `/api/authenticate/` (the same fields and code rules)."""

    bind_token = serializers.CharField(max_length=128)


class SocialErrorOutput(serializers.Serializer):
    error = serializers.CharField(help_text="a message for the person")
    detail = serializers.CharField()
    code = serializers.CharField(help_text="invalid_state, invalid_bind_token, invalid_code, provider_error, already_bound, ...")
    provider = serializers.CharField(required=False)
    provider_code = serializers.CharField(required=False, help_text="the provider's own error code, e.g. 21325 or 40029")


class IdentityOutput(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.CharField()
    nickname = serializers.CharField()
    avatar_url = serializers.CharField()
    bound_at = serializers.DateTimeField()
