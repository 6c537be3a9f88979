from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = _("Chat")

    def ready(self):
        from accounts.profiles import profile_changed
        from core import redis_clients

        from . import consumers, services

        # A channel layer that reconnected may have missed events: chat's sockets are closed so that
        # their clients resume (consumers.close_sockets_to_resume).
        redis_clients.on_channel_layer_reconnect(consumers.close_sockets_to_resume)

        def publish_profile(sender, user, **kwargs):
            services.profile_publish(user=user)

        profile_changed.connect(publish_profile, dispatch_uid="chat.profile_publish", weak=False)
