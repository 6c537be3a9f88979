from django.apps import AppConfig


class Auth4appConfig(AppConfig):
    name = "auth4app"
