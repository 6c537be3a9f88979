from django.urls import path

from . import views

urlpatterns = [
    path("oauth/providers/", views.ProvidersView.as_view(), name="oauth-providers"),
    path("oauth/weibo/start/", views.WeiboStartView.as_view(), name="oauth-weibo-start"),
    path("oauth/weibo/callback/", views.WeiboCallbackView.as_view(), name="oauth-weibo-callback"),
    path("oauth/wechat_mp/login/", views.WechatMiniProgramLoginView.as_view(), name="oauth-wechat-mp-login"),
    path("oauth/bind/", views.BindView.as_view(), name="oauth-bind"),
    path("me/identities/", views.IdentityListView.as_view(), name="identity-list"),
    path("me/identities/<dbid:identity_id>/", views.IdentityDetailView.as_view(), name="identity-detail"),
]
