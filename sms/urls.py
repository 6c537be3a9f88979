from django.urls import path

from . import views

urlpatterns = [
    path("message/send/", views.MessageSendView.as_view(), name="sms-message-send"),
    path("message/<dbid:message_id>/", views.MessageStatusView.as_view(), name="sms-message-status"),
]
