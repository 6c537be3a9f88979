from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SmsConfig(AppConfig):
    name = "sms"
    verbose_name = _("SMS")

    def ready(self) -> None:
        from core.metrics import register_scrape_collector

        # checks: registers the SMS text checks. tasks: registers the app's Celery tasks in every
        # process (web processes too): sms.services queues its delivery task by name
        # (core.background.task), since sms.tasks imports sms.services.
        from . import checks, tasks  # noqa: F401
        from .metrics import collect_outbox

        register_scrape_collector(collect_outbox)
