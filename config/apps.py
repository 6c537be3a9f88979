"""App configs of the project's own wiring."""

from django.contrib.admin.apps import AdminConfig


class HotlineAdminConfig(AdminConfig):
    """django.contrib.admin with the site of config/admin_site.py (a password alone never gets in).
    Its own module: app configs are imported before models are ready, the site's form is not."""

    default_site = "config.admin_site.HotlineAdminSite"
