from django.urls import path

from .consumers import LoginStatusConsumer

websocket_urlpatterns = [
    path("ws/auth/<str:code_id>/", LoginStatusConsumer.as_asgi()),
]
