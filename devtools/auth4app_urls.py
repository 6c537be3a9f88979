"""Mounted at /dev/auth4app/ by config/urls.py only when settings.AUTH4APP_SIMULATOR (DEBUG on, no key)."""

from django.urls import path

from . import auth4app_views as simulator_views

urlpatterns = [
    path("", simulator_views.page, name="auth4app-simulator"),
    path("confirm", simulator_views.confirm, name="auth4app-simulator-confirm"),
    path("code/get", simulator_views.upstream, {"endpoint": "code/get"}),
    path("code/result", simulator_views.upstream, {"endpoint": "code/result"}),
]
