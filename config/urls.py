from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("accounts.urls")),
    path("api/", include("otp.urls")),
    path("api/", include("sms.urls")),
    path("api/chat/", include("chat.urls")),
    path("proxy/", include("auth4app.urls")),
    # set_language: the page header's language switcher (docs/i18n.md)
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("pages.urls")),
]

if settings.AUTH4APP_SIMULATOR:
    # Never mounted with DEBUG off (see AUTH4APP_SIMULATOR in settings).
    urlpatterns.append(path("dev/auth4app/", include("auth4app.simulator_urls")))

handler400 = "core.errors.json_or_html_400"
handler403 = "core.errors.json_or_html_403"
handler404 = "core.errors.json_or_html_404"
handler500 = "core.errors.json_or_html_500"
