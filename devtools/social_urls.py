"""Mounted at /dev/ by config/urls.py only when settings.WEIBO_SIMULATOR or WECHAT_MP_SIMULATOR
(DEBUG on, that provider without keys); each simulator only when its own provider has no keys."""

from django.conf import settings
from django.urls import path

from . import social_views as simulator_views

urlpatterns = []
if settings.WEIBO_SIMULATOR:
    urlpatterns.append(path("weibo/<path:endpoint>", simulator_views.weibo, name="weibo-simulator"))
if settings.WECHAT_MP_SIMULATOR:
    urlpatterns.append(path("wechat/<path:endpoint>", simulator_views.wechat, name="wechat-simulator"))
