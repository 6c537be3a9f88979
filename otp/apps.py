from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OtpConfig(AppConfig):
    name = "otp"
    verbose_name = _("One-time login codes")

    def ready(self) -> None:
        from core.metrics import register_scrape_collector

        from .metrics import collect_global_budget

        register_scrape_collector(collect_global_budget)
