from django.apps import AppConfig


class SmsConfig(AppConfig):
    name = "sms"

    def ready(self) -> None:
        from core.metrics import register_scrape_collector

        from .metrics import collect_outbox

        register_scrape_collector(collect_outbox)
