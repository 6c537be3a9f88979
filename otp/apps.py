from django.apps import AppConfig


class OtpConfig(AppConfig):
    name = "otp"

    def ready(self) -> None:
        from core.metrics import register_scrape_collector

        from .metrics import collect_global_budget

        register_scrape_collector(collect_global_budget)
