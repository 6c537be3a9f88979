from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SmsConfig(AppConfig):
    name = "sms"
    verbose_name = _("SMS")

    def ready(self) -> None:
        from core.metrics import register_scrape_collector

        from . import checks  # noqa: F401  (registers the SMS text checks)
        from .metrics import collect_outbox

        register_scrape_collector(collect_outbox)
