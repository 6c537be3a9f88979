"""WebSocket routes of every app."""

from auth4app.routing import websocket_urlpatterns as auth4app_routes
from chat.routing import websocket_urlpatterns as chat_routes

websocket_urlpatterns = [*chat_routes, *auth4app_routes]
