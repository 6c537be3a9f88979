from django.urls import path
from django.views.i18n import JavaScriptCatalog

from . import views

app_name = "pages"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginPageView.as_view(), name="login"),
    path("login/qr.svg", views.qr_code_svg, name="qr"),
    path("login/weibo/", views.WeiboLoginPageView.as_view(), name="login-weibo"),
    path("chat/", views.PageView.as_view(template_name="pages/chat.html", page="chat"), name="chat"),
    path(
        "account/sessions/",
        views.PageView.as_view(template_name="pages/sessions.html", page="sessions"),
        name="sessions",
    ),
    path(
        "account/identities/",
        views.PageView.as_view(template_name="pages/identities.html", page="identities"),
        name="identities",
    ),
    path(
        "account/profile/",
        views.PageView.as_view(template_name="pages/profile.html", page="profile"),
        name="profile",
    ),
    path("account/email/verify/", views.email_verify, name="email-verify"),
    path("web/session/", views.web_session_start, name="web-session"),
    path("web/refresh/", views.web_session_refresh, name="web-refresh"),
    path("web/logout/", views.web_session_logout, name="web-logout"),
    path("jsi18n/", JavaScriptCatalog.as_view(domain="djangojs"), name="jsi18n"),
]
