"""WebSocket routes of every app."""

from django.urls import re_path

from auth4app.routing import websocket_urlpatterns as auth4app_routes
from chat.routing import websocket_urlpatterns as chat_routes
from core.sockets import NoSuchSocketConsumer

# Last: any other path is closed with 4404 instead of failing in the router (an HTTP 500).
websocket_urlpatterns = [*chat_routes, *auth4app_routes, re_path(r"", NoSuchSocketConsumer.as_asgi())]
