from django.urls import path

from . import views

urlpatterns = [
    path("otp/send/", views.SendCodeView.as_view(), name="otp-send"),
    path("authenticate/", views.AuthenticateView.as_view(), name="otp-authenticate"),
]
