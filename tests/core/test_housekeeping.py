"""The housekeeping schedule (CELERY_BEAT_SCHEDULE): every entry names a real task with arguments it
takes, and the tasks do the work of the management commands. chat's presence sweep is tested in
tests/chat/test_housekeeping.py; the outbox sweep under a real beat and worker in the worker drill
(tests/sms/test_worker_kill_drill.py)."""

from __future__ import annotations

import inspect
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from config.celery import app
from core import background


def test_every_entry_names_a_registered_task_with_arguments_it_takes():
    app.loader.import_default_modules()
    assert set(settings.CELERY_BEAT_SCHEDULE) >= {
        "sms-outbox-requeue-expired", "otp-purge-expired", "accounts-flush-expired-sessions", "chat-presence-sweep",
    }
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        task = app.tasks[entry["task"]]  # KeyError: a schedule entry naming no task
        inspect.signature(task.run).bind(**entry.get("kwargs", {}))  # TypeError: arguments it does not take
        assert entry["schedule"] > 0 and entry["options"]["expires"] == entry["schedule"], name
    sweep = settings.CELERY_BEAT_SCHEDULE["sms-outbox-requeue-expired"]["schedule"]
    assert sweep == settings.SMS_OUTBOX_SWEEP_SECONDS < settings.SMS_SENDING_LEASE_SECONDS


def test_the_procfile_runs_beat():
    from tests.processes import procfile_command

    assert procfile_command("beat")[3:6] == ["-A", "config", "beat"]


def _run(name: str):
    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE[name]
    return app.tasks[entry["task"]].apply(kwargs=entry.get("kwargs", {}), throw=True).get()


@pytest.mark.django_db
def test_otp_purge_deletes_challenges_expired_over_a_day_ago(time_machine):
    from otp.models import Challenge
    from otp.services import otp_code_send

    time_machine.move_to("2026-03-01 12:00Z", tick=False)
    otp_code_send(mobile_number="+989121234567", ip="203.0.113.1")
    time_machine.shift(timedelta(days=1, minutes=10))
    otp_code_send(mobile_number="+989121234568", ip="203.0.113.1")
    assert _run("otp-purge-expired") == 1
    assert list(Challenge.objects.values_list("mobile_number", flat=True)) == ["+989121234568"]


@pytest.mark.django_db
def test_accounts_flush_deletes_ended_login_sessions_and_expired_browser_sessions(user_factory, login):
    from accounts.models import LoginSession

    user = user_factory()
    live, ended = login(user), login(user)
    LoginSession.objects.filter(pk=ended.session.pk).update(revoked_at=timezone.now() - timedelta(days=31))
    stale, fresh = SessionStore(), SessionStore()
    for store in (stale, fresh):
        store["k"] = "v"
        store.create()
    Session.objects.filter(session_key=stale.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))

    assert _run("accounts-flush-expired-sessions").startswith("sessions=1 ")
    assert list(LoginSession.objects.values_list("pk", flat=True)) == [live.session.pk]
    assert list(Session.objects.values_list("session_key", flat=True)) == [fresh.session_key]


@pytest.mark.django_db
def test_sms_tasks_take_back_lost_messages_and_purge_old_ones(time_machine, monkeypatch, settings):
    from sms import services
    from sms.models import Message

    queued = []
    monkeypatch.setattr(background, "enqueue", lambda task, *args, **kw: queued.append(args))
    monkeypatch.setattr(background, "dispatch", lambda task, *args, **kw: queued.append(args))
    settings.SMS_PROVIDER = "locmem"
    time_machine.move_to("2026-03-01 12:00Z", tick=False)
    old = services.message_send(to="+989121234567", text="old")
    Message.objects.filter(pk=old.pk).update(status="sent")
    time_machine.shift(timedelta(days=settings.SMS_OUTBOX_RETENTION_DAYS + 1))
    lost = services.message_send(to="+989121234567", text="its task was lost")
    queued.clear()
    time_machine.shift(settings.SMS_SENDING_LEASE_SECONDS + 1)

    assert _run("sms-outbox-requeue-expired") == "interrupted=0 lost=1"
    assert queued == [(lost.pk,)]
    assert _run("sms-outbox-purge") == 1
    assert list(Message.objects.values_list("pk", flat=True)) == [lost.pk]


def test_the_embedded_mode_runs_the_schedule_on_a_timer(monkeypatch):
    ran = []
    two_runs = threading.Event()

    def record(task, args, kwargs):
        ran.append((task.name, kwargs))
        if len(ran) >= 2:
            two_runs.set()

    monkeypatch.setattr(background, "_run_in_thread", record)
    stop = threading.Event()
    schedule = {"purge": {"task": "otp.purge_expired", "schedule": 0.05, "kwargs": {"older_than_seconds": 7}}}
    thread = background.run_schedule_in_process(schedule, stop=stop)
    try:
        assert two_runs.wait(5)
    finally:
        stop.set()
        thread.join(5)
    assert ran[:2] == [("otp.purge_expired", {"older_than_seconds": 7})] * 2
    assert not thread.is_alive()
