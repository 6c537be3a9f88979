from django.urls import path
from rest_framework_simplejwt.views import TokenRefreshView

from . import views

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path("ws/ticket/", views.WsTicketView.as_view(), name="ws-ticket"),
    path("token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
]
