from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "hotline core"

    def ready(self) -> None:
        # Registers the <dbid:...> path converter before any URLconf is loaded.
        from . import converters  # noqa: F401
