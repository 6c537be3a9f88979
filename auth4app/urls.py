from django.urls import path

from . import views

# No trailing slashes: seed 000's clients post to exactly these paths.
urlpatterns = [
    path("auth/code", views.code, name="auth4app-code"),
    path("auth/result", views.result, name="auth4app-result"),
    path("auth/complete", views.complete, name="auth4app-complete"),
]
