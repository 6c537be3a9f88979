"""Run slow side effects (SMS delivery, ...) outside the request.

With REDIS_URL set, `enqueue` hands the Celery task to the Redis broker and a `worker`
process runs it. In the embedded mode (no Redis) there is no broker, so the task runs
on a small in-process thread pool. Either way it is queued only after the surrounding
transaction commits, so a worker never looks for a row that is not there yet.

Likewise the housekeeping schedule (CELERY_BEAT_SCHEDULE): the `beat` process sends it to the
broker; the embedded mode, which has neither, runs it on a timer thread of its one process.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, transaction

logger = logging.getLogger(__name__)

_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hotline-bg")
    return _executor


def _run_in_thread(task, args, kwargs):
    close_old_connections()
    try:
        task.apply(args=args, kwargs=kwargs, throw=False)
    except Exception:  # pragma: no cover - logged, the outbox row keeps the state
        logger.exception("background task %s failed", task.name)
    finally:
        close_old_connections()


def task(name: str):
    """The registered Celery task called `name`. A service queues its own app's task by name, so that
    it does not import the tasks module, which imports the service (the app's AppConfig.ready imports
    its tasks module, so the task is registered in every process)."""
    from celery import current_app

    return current_app.tasks[name]


def uses_broker() -> bool:
    return bool(settings.REDIS_URL) and not getattr(settings, "BACKGROUND_IN_PROCESS", False)


def dispatch(task, *args, countdown: float | None = None, **kwargs) -> None:
    """Send the task now (no transaction handling)."""
    if uses_broker():
        task.apply_async(args=args, kwargs=kwargs, countdown=countdown)
    else:
        # The task's log lines keep the request id (and user and session) of the code that queued it,
        # as a worker's do through the task headers (core.requestid).
        run = contextvars.copy_context().run
        if countdown:
            timer = threading.Timer(countdown, lambda: _pool().submit(run, _run_in_thread, task, args, kwargs))
            timer.daemon = True
            timer.start()
        else:
            _pool().submit(run, _run_in_thread, task, args, kwargs)


def enqueue(task, *args, **kwargs) -> None:
    """Queue `task(*args, **kwargs)` to run in the background once the current transaction commits."""
    transaction.on_commit(lambda: dispatch(task, *args, **kwargs))


def run_schedule_in_process(schedule: dict, stop: threading.Event | None = None) -> threading.Thread:
    """Embedded mode: run each entry of a beat schedule (`{"task": name, "schedule": seconds,
    "kwargs": {...}}`) every `schedule` seconds on the in-process pool, first one interval after
    the start, as beat does. Runs until `stop` is set (for ever by default)."""
    from celery import current_app

    current_app.loader.import_default_modules()  # the apps' tasks modules (autodiscovery)
    entries = [(current_app.tasks[e["task"]], float(e["schedule"]), e.get("kwargs") or {}) for e in schedule.values()]
    stop = stop or threading.Event()

    def loop():
        due = [time.monotonic() + interval for _, interval, _ in entries]
        while entries and not stop.wait(max(0.0, min(due) - time.monotonic())):
            now = time.monotonic()
            for i, (task, interval, kwargs) in enumerate(entries):
                if due[i] <= now:
                    due[i] = now + interval
                    _pool().submit(_run_in_thread, task, (), kwargs)

    thread = threading.Thread(target=loop, name="hotline-schedule", daemon=True)
    thread.start()
    return thread
