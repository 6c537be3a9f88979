from django.apps import AppConfig


class SmsConfig(AppConfig):
    name = "sms"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the SMS text checks)
