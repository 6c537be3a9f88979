from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = _("Chat")

    def ready(self):
        from accounts.profiles import profile_changed

        from . import services

        def publish_profile(sender, user, **kwargs):
            services.profile_publish(user=user)

        profile_changed.connect(publish_profile, dispatch_uid="chat.profile_publish", weak=False)
