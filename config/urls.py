from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.views import avatar_file
from core.csp import with_policy
from core.health import healthz, livez, readyz
from core.metrics_endpoint import metrics_view

# Swagger UI's page carries a few inline style rules; its script comes from the same view (?script),
# so the page's policy allows inline styles only.
API_DOCS_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

urlpatterns = [
    path("livez", livez, name="livez"),
    path("readyz", readyz, name="readyz"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("media/avatars/<str:name>", avatar_file, name="avatar-file"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", with_policy(API_DOCS_POLICY)(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="api-docs"),
    path("api/", include("accounts.urls")),
    path("api/", include("otp.urls")),
    path("api/", include("sms.urls")),
    path("api/chat/", include("chat.urls")),
    path("api/", include("social.urls")),
    path("proxy/", include("auth4app.urls")),
    # set_language: the page header's language switcher (docs/i18n.md)
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("pages.urls")),
]

if settings.AUTH4APP_SIMULATOR:
    # Never mounted with DEBUG off (see AUTH4APP_SIMULATOR in settings).
    urlpatterns.append(path("dev/auth4app/", include("devtools.auth4app_urls")))

if settings.WEIBO_SIMULATOR or settings.WECHAT_MP_SIMULATOR:
    # Never mounted with DEBUG off (see WEIBO_SIMULATOR and WECHAT_MP_SIMULATOR in settings).
    urlpatterns.append(path("dev/", include("devtools.social_urls")))

handler400 = "core.errors.json_or_html_400"
handler403 = "core.errors.json_or_html_403"
handler404 = "core.errors.json_or_html_404"
handler500 = "core.errors.json_or_html_500"
