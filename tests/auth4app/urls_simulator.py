"""The project's URLs plus the simulator, as config/urls.py mounts them in DEBUG without a key."""

from django.urls import include, path

from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [*project_urlpatterns, path("dev/auth4app/", include("devtools.auth4app_urls"))]
