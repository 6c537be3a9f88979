from django.apps import AppConfig


class SmsConfig(AppConfig):
    name = "sms"

    def ready(self) -> None:
        from core.metrics import register_scrape_collector

        # Registers the app's Celery tasks in every process (web processes too): sms.services queues
        # its delivery task by name (core.background.task), since sms.tasks imports sms.services.
        from . import tasks  # noqa: F401
        from .metrics import collect_outbox

        register_scrape_collector(collect_outbox)
