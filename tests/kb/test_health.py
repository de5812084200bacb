"""GET /healthz tells the truth: 200 while captures can progress, 503 naming what stops them
(the database, Redis, no live worker while captures wait, a capture waiting too long); worker
processes, also the one `serve` starts, write their heartbeats and take them away when they stop."""

import os
import signal
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from kb import health
from kb.heartbeat import Heartbeat, is_worker, live_workers, queue_names
from kb.management.commands.serve import DB_WORKER, RQ_WORKER
from kb.models import WorkerHeartbeat
from snapshots.models import Link, Snapshot
from tests.support.processes import free_port, wait_for, wait_until_serving

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="serve's children die with it on Linux"
)


def waiting_capture(user, minutes_ago: float = 0, status=Snapshot.Status.PENDING) -> Snapshot:
    url = f"https://example.org/{Link.objects.count()}"
    link = Link.objects.create(owner=user, url=url, normalized_url=url)
    requested = timezone.now() - timedelta(minutes=minutes_ago)
    return Snapshot.objects.create(link=link, status=status, requested=requested)


@pytest.fixture
def with_workers(settings):
    """The database backend: captures run only when a worker process takes them."""
    settings.KB_TASK_BACKEND = "database"
    return settings


def a_closed_port() -> int:
    return free_port()  # free: nothing listens there


def test_healthz_is_ok_with_a_live_worker_and_a_fresh_capture_waiting(client, user, with_workers):
    waiting_capture(user, minutes_ago=1)
    Heartbeat(queue="default").beat()

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["problems"]) == ("ok", [])
    assert body["database"]["ok"] is True
    assert body["queue"] == {"backend": "database", "ok": True}
    assert body["worker"]["alive"] == 1
    assert 55 <= body["captures"]["oldest_waiting_seconds"] <= 65
    assert body["captures"]["limit_seconds"] == 600


def test_no_worker_is_no_problem_while_no_capture_waits(client, user, with_workers):
    Link.objects.create(
        owner=user, url="https://example.org/", normalized_url="https://example.org/"
    )
    Snapshot.objects.create(link=Link.objects.get(), status=Snapshot.Status.SUCCEEDED)

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["worker"]["alive"] == 0
    assert response.json()["captures"]["oldest_waiting"] is None


def test_healthz_is_503_when_redis_does_not_answer(client, settings, db):
    settings.KB_TASK_BACKEND = "rq"
    settings.RQ_QUEUES = {"default": {"URL": f"redis://127.0.0.1:{a_closed_port()}/0"}}

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["queue"]["ok"] is False
    assert len(body["problems"]) == 1
    assert body["problems"][0].startswith("The task queue (Redis) does not answer")
    assert body["database"]["ok"] is True  # the details still come along


def test_healthz_is_503_when_captures_wait_and_no_worker_is_alive(client, user, with_workers):
    waiting_capture(user, minutes_ago=0.5)
    dead = Heartbeat(queue="default")
    dead.beat()
    WorkerHeartbeat.objects.update(beat_at=timezone.now() - timedelta(seconds=31))

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["problems"] == [
        "No worker is alive (none has sent a heartbeat in 30 seconds) and captures are waiting: "
        "nothing will take them."
    ]
    assert body["worker"]["alive"] == 0
    assert 30 <= body["worker"]["seconds_ago"] <= 40  # when the dead one last beat


def test_healthz_is_503_when_the_oldest_waiting_capture_is_too_old(client, user, with_workers):
    waiting_capture(user, minutes_ago=11, status=Snapshot.Status.RUNNING)
    waiting_capture(user, minutes_ago=1)
    Heartbeat(queue="default").beat()

    response = client.get("/healthz")

    assert response.status_code == 503
    [problem] = response.json()["problems"]
    assert problem.startswith("The oldest waiting capture was asked for 66")
    assert problem.endswith("seconds ago (the limit is 600): captures are not progressing.")


def test_the_pending_limit_is_a_setting(client, user, with_workers):
    with_workers.KB_HEALTH_PENDING_LIMIT = 30
    waiting_capture(user, minutes_ago=1)
    Heartbeat(queue="default").beat()

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["captures"]["limit_seconds"] == 30


def test_healthz_is_503_when_the_database_does_not_answer(client, monkeypatch, db):
    class Unreachable:
        vendor = "postgresql"

        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(health, "connection", Unreachable())

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["problems"] == ["The database does not answer: connection refused"]
    assert body["database"] == {"ok": False, "vendor": "postgresql", "error": "connection refused"}


def test_problems_read_in_chinese(client, user, with_workers):
    waiting_capture(user, minutes_ago=1)

    response = client.get("/healthz", headers={"Accept-Language": "zh-Hans"})

    assert response.status_code == 503
    assert "没有" in response.json()["problems"][0]


def test_a_heartbeat_prunes_the_rows_of_dead_workers(db):
    WorkerHeartbeat.objects.create(
        hostname="gone",
        pid=1,
        started_at=timezone.now(),
        beat_at=timezone.now() - timedelta(minutes=5),
    )
    beating = Heartbeat(queue="default")

    beating.beat()
    beating.beat()

    assert list(WorkerHeartbeat.objects.values_list("pid", flat=True)) == [os.getpid()]
    assert live_workers().count() == 1
    beating.forget()
    assert not WorkerHeartbeat.objects.exists()


def test_worker_command_lines_name_their_queues():
    assert is_worker(["manage.py", *RQ_WORKER])
    assert queue_names(["manage.py", *RQ_WORKER]) == "default"
    assert queue_names(["manage.py", "rqworker", "high", "low", "--name", "x"]) == "high,low"
    assert is_worker(["manage.py", *DB_WORKER])
    assert queue_names(["manage.py", "db_worker", "--queue-name", "captures"]) == "captures"
    assert not is_worker(["manage.py", "runserver"])
    assert not is_worker(["gunicorn", "kb.wsgi"])


# The worker processes themselves, as `serve` starts them.


@pytest.fixture(scope="module")
def site_env(tmp_path_factory):
    """A fresh SQLite site with the database backend and a quick heartbeat."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env |= {
        "KB_DATA_DIR": str(tmp_path_factory.mktemp("health-site")),
        "DJANGO_SETTINGS_MODULE": "kb.settings",
        "KB_TASK_BACKEND": "database",
        "KB_HEARTBEAT_SECONDS": "0.5",
        "DEBUG": "1",  # static files from the app folders: no collectstatic needed
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        timeout=120,
    )
    return env


def heartbeat_rows(env: dict) -> list[tuple]:
    with sqlite3.connect(Path(env["KB_DATA_DIR"]) / "db.sqlite3", timeout=20) as db:
        return db.execute("SELECT pid, queue FROM kb_workerheartbeat ORDER BY pid").fetchall()


def healthz(base_url: str) -> tuple[int, dict]:
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@linux_only
@pytest.mark.network
def test_the_worker_serve_starts_beats_and_takes_its_heartbeat_away_when_stopped(site_env):
    from tests.support.processes import descendants

    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=settings.BASE_DIR,
        env=site_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/healthz", serve)
        worker = wait_for(
            lambda: next((p for p, c in descendants(serve.pid).items() if "db_worker" in c), None),
            60,
        )
        assert wait_for(lambda: heartbeat_rows(site_env) == [(worker, "default")], 30), (
            heartbeat_rows(site_env)
        )
        status, body = healthz(f"http://127.0.0.1:{port}")
        assert (status, body["worker"]["alive"]) == (200, 1)
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=30)

    assert heartbeat_rows(site_env) == []  # a clean stop takes the heartbeat away


@linux_only
@pytest.mark.network
def test_a_killed_worker_stops_counting_and_waiting_captures_make_healthz_503(site_env):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    processes = {
        "web": [sys.executable, "-m", "gunicorn", "kb.wsgi", "--bind", f"127.0.0.1:{port}",
                "--workers", "1"],
        "worker": [sys.executable, "manage.py", *DB_WORKER],
    }  # fmt: skip
    running = {
        name: subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=site_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, command in processes.items()
    }
    try:
        wait_until_serving(f"{base_url}/healthz", running["web"])
        worker = running["worker"].pid
        assert wait_for(lambda: heartbeat_rows(site_env) == [(worker, "default")], 30)
        assert healthz(base_url)[1]["worker"]["alive"] == 1

        running["worker"].send_signal(signal.SIGKILL)
        running["worker"].wait(timeout=10)
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-v0", "-c",
             "from django.contrib.auth import get_user_model\n"
             "from snapshots.models import Link\n"
             "from snapshots.tasks import snapshot_request\n"
             "user = get_user_model().objects.create_user('ada')\n"
             "url = 'https://example.org/'\n"
             "snapshot_request(link=Link.objects.create(owner=user, url=url, normalized_url=url))"],
            cwd=settings.BASE_DIR, env=site_env, check=True, timeout=120,
        )  # fmt: skip

        # Its row stays (kill -9 leaves no time to take it away) but stops counting in 3 beats.
        assert heartbeat_rows(site_env) == [(worker, "default")]
        failing = wait_for(
            lambda: (lambda answer: answer[0] == 503 and answer)(healthz(base_url)), 30
        )
        assert failing, healthz(base_url)
        body = failing[1]
        assert body["worker"]["alive"] == 0
        assert body["problems"][0].startswith("No worker is alive")
    finally:
        for process in running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
