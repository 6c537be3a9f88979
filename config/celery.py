"""The Celery app of the `worker` and `beat` processes (Redis as broker)."""

import os

from celery import Celery, signals

from core import requestid
from core.logging import celery_logging_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("hotline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A task carries the request id (and user and session) of whoever enqueued it into its log lines.
requestid.connect_celery_signals()


@signals.after_setup_logger.connect(weak=False)
def _project_logging(logger=None, **_):
    # Celery puts its own handlers on the root logger (for --logfile and --loglevel); they get the
    # project's redaction, log context and, with LOG_FORMAT=json, JSON lines.
    from django.conf import settings

    celery_logging_setup(logger, json=settings.LOG_FORMAT == "json")
