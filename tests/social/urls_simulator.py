"""The project's URLs plus the social simulators, as config/urls.py mounts them in DEBUG without keys."""

from django.urls import path

from config.urls import urlpatterns as project_urlpatterns
from devtools import social_views as simulator_views

urlpatterns = [
    *project_urlpatterns,
    path("dev/weibo/<path:endpoint>", simulator_views.weibo),
    path("dev/wechat/<path:endpoint>", simulator_views.wechat),
]
