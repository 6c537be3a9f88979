from django.urls import path

from . import views

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path("me/avatar/", views.AvatarView.as_view(), name="me-avatar"),
    path("ws/ticket/", views.WsTicketView.as_view(), name="ws-ticket"),
    path("token/refresh/", views.TokenRefreshView.as_view(), name="token-refresh"),
    path("sessions/", views.SessionListView.as_view(), name="session-list"),
    path("sessions/revoke-others/", views.SessionRevokeOthersView.as_view(), name="session-revoke-others"),
    path("sessions/<str:session_id>/", views.SessionDetailView.as_view(), name="session-detail"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
]
