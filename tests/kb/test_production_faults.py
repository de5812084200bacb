"""Faults on the production path, one at a time, and recovery with no command run by hand.

kb runs as README's Production section writes it (PostgreSQL, gunicorn, two rq workers started
from README's own line) against a Redis of this test's own (``redis-server`` on a free port, no
persistence: a restart loses every queued job, the worst case). Each worker runs under a small
supervisor that starts it again if it exits, as systemd's ``Restart=always`` in README does.

- Redis killed with captures queued while links are being added: no answer is a 5xx, and every
  link's newest snapshot succeeds within 3 minutes of Redis coming back.
- A worker killed (``SIGKILL``) in the middle of a capture: the capture succeeds within 2 minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.kb.test_production_rq import (
    DATABASE_URL,
    drop_database,
    fresh_database,
    page,
    production_commands,
    set_up_site,
    with_option,
)
from tests.support.processes import descendants, free_port, gone, still_running, wait_for
from tests.support.servers import LocalHTTPServer

pytestmark = [
    pytest.mark.production,
    pytest.mark.network,
    pytest.mark.skipif(
        not DATABASE_URL,
        reason="set KB_PRODUCTION_TEST_DATABASE_URL (make pytest-production does where "
        "PostgreSQL and Redis answer)",
    ),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="no redis-server to kill"),
]

WORKERS = 2
# Slow enough that captures are still queued and running when the fault comes.
PAGE_SECONDS = 0.5


class Redis:
    """A redis-server of this test's own, on a free port, that can be killed and started again."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder, self.process = free_port(), folder, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        log = (self.folder / "redis.log").open("a")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        assert wait_for(self.answers, 10), "redis-server did not start"

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def answers(self) -> bool:
        import redis

        try:
            return redis.Redis.from_url(self.url, socket_timeout=1).ping()
        except redis.RedisError:
            return False


class Supervised:
    """A process started again whenever it exits, like systemd's Restart=always."""

    def __init__(self, command: list[str], env: dict, log: Path) -> None:
        self.command, self.env, self.log = command, env, log
        self.restarts, self.stopping = 0, False
        self.process = self._start()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _start(self) -> subprocess.Popen:
        return subprocess.Popen(
            self.command,
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
        )

    def _watch(self) -> None:
        while not self.stopping:
            if self.process.poll() is not None and not self.stopping:
                time.sleep(1.0)  # RestartSec=1
                self.restarts += 1
                self.process = self._start()
            time.sleep(0.2)

    def stop(self) -> None:
        self.stopping = True
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Site:
    def __init__(self, base_url: str, token: str, pages: LocalHTTPServer, folder: Path) -> None:
        self.base_url, self.token, self.pages, self.folder = base_url, token, pages, folder
        self.statuses: list[int] = []

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.base_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, answer = response.status, json.load(response)
        except urllib.error.HTTPError as error:
            status, answer = error.code, {}
        self.statuses.append(status)
        return status, answer

    def add_link(self, path: str) -> int:
        status, answer = self.request("POST", "/api/links", {"url": self.pages.url(path)})
        assert status in (200, 201), (status, self.log_tails())
        return answer["id"]

    def newest_statuses(self, link_ids: list[int]) -> list[str]:
        return [
            self.request("GET", f"/api/links/{i}")[1]["snapshots"][0]["status"] for i in link_ids
        ]

    def all_succeeded(self, link_ids: list[int]) -> bool:
        return self.newest_statuses(link_ids) == ["succeeded"] * len(link_ids)

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            for log in sorted(self.folder.glob("*.log"))
        )


@pytest.fixture
def site(tmp_path):
    database_url = DATABASE_URL + "_faults"
    fresh_database(database_url)
    redis_server = Redis(tmp_path)
    redis_server.start()
    pages = LocalHTTPServer()
    pages.route("/site.css", body=b"h1 { color: #123456 }", headers={"Content-Type": "text/css"})
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("KB_")}
    env |= {
        "DJANGO_SETTINGS_MODULE": "kb.settings",
        "DATABASE_URL": database_url,
        "KB_TASK_BACKEND": "rq",
        "REDIS_URL": redis_server.url,
        "KB_DATA_DIR": str(tmp_path / "data"),
        "KB_STATIC_ROOT": str(tmp_path / "static"),
        # Two names for the fixture server: two sites, as far as the queue's fairness knows.
        "KB_FETCH_ALLOW_HOSTS": f"127.0.0.1:{pages.port},localhost:{pages.port}",
        "KB_CAPTURE_RETRY_DELAYS": "3,3",
        "KB_CAPTURE_PER_HOST": str(WORKERS),
        "ALLOWED_HOSTS": "127.0.0.1",
    }

    token = set_up_site(env)
    commands = production_commands()
    web = with_option(commands["web"], "--bind", f"127.0.0.1:{port}")
    web = with_option(web, "--workers", "2")
    services = [Supervised(web, env, tmp_path / "web.log")]
    services += [
        Supervised(commands["worker"], env, tmp_path / f"worker-{n}.log") for n in range(WORKERS)
    ]
    running = Site(f"http://127.0.0.1:{port}", token, pages, tmp_path)
    running.redis, running.workers = redis_server, services[1:]
    running.database_url = database_url
    try:
        assert wait_for(lambda: _serving(running.base_url), 60), running.log_tails()
        yield running
    finally:
        for service in services:
            service.stop()
        if redis_server.process.poll() is None:
            redis_server.kill()
        pages.close()
        drop_database(database_url)


def _serving(base_url: str) -> bool:
    try:
        urllib.request.urlopen(f"{base_url}/healthz", timeout=5).close()
        return True
    except OSError:
        return False


def slow_pages(site: Site, prefix: str, count: int) -> list[str]:
    paths = [f"/{prefix}-{n}" for n in range(count)]
    for n, path in enumerate(paths):
        site.pages.route(
            path,
            body=page(f"{prefix} {n}"),
            headers={"Content-Type": "text/html"},
            delay=PAGE_SECONDS,
        )
    return paths


def test_redis_killed_with_captures_queued_loses_nothing_and_needs_no_person(site):
    before = [site.add_link(path) for path in slow_pages(site, "before", 12)]
    site.redis.kill()
    during = [site.add_link(path) for path in slow_pages(site, "during", 8)]
    assert site.request("GET", "/api/links")[0] == 200  # reading needs no queue
    time.sleep(10)
    site.redis.start()
    back = time.monotonic()

    links = before + during
    assert wait_for(lambda: site.all_succeeded(links), 180, step=2), (
        site.newest_statuses(links),
        site.log_tails(),
    )
    recovered = time.monotonic() - back
    assert [s for s in site.statuses if s >= 500] == []
    assert [w.restarts for w in site.workers] == [0] * WORKERS  # they waited for Redis
    print(f"\nRedis down 10 s with {len(before)} captures queued and {len(during)} links added "
          f"meanwhile: all {len(links)} captured {recovered:.0f} s after it came back; "
          f"worker restarts {[w.restarts for w in site.workers]}")  # fmt: skip


def test_a_worker_killed_mid_capture_is_made_good_within_two_minutes(site):
    site.pages.route("/slow", body=page("Slow"), headers={"Content-Type": "text/html"}, delay=4)
    link_id = site.add_link("/slow")
    assert wait_for(lambda: site.newest_statuses([link_id]) == ["running"], 30)
    killed = time.monotonic()
    children = {}
    for worker in site.workers:  # whichever holds it: both, the worst case, as an OOM kill does
        children |= descendants(worker.process.pid)  # its job's process and its scheduler
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.process.pid, signal.SIGKILL)
    # Nothing of theirs is left to hold their Redis connections (an orphaned scheduler took jobs).
    assert children
    assert wait_for(lambda: gone(children), 15), still_running(children)

    assert wait_for(lambda: site.all_succeeded([link_id]), 120, step=2), (
        site.newest_statuses([link_id]),
        site.log_tails(),
    )
    print(f"\nworkers killed mid-capture: captured {time.monotonic() - killed:.0f} s later")
    assert [s for s in site.statuses if s >= 500] == []


def terminate_connections(database_url: str) -> int:
    """What an administrator's ``pg_terminate_backend`` (or a PostgreSQL failover) does to every
    connection kb holds: each is cut off, in the middle of whatever it was doing."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url, dbname="postgres", autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return len(rows)


def test_postgresql_connections_cut_off_under_load_answer_no_5xx_and_lose_nothing(site):
    """20 clients add links (new and existing, with a brand-new tag) and read the library while
    every connection kb holds is cut off every 3 s: each answer is a success, each link
    answered as saved is there, and every capture succeeds."""
    paths = slow_pages(site, "cut", 30)
    answered: dict[str, int] = {}
    stop = threading.Event()

    def client(number: int) -> None:
        step = 0
        while not stop.is_set():
            path = paths[(number * 7 + step) % len(paths)]  # some new, some added already
            status, answer = site.request(
                "POST", "/api/links", {"url": site.pages.url(path), "tags": [f"cut-{step % 3}"]}
            )
            if status in (200, 201):
                answered[path] = answer["id"]
            site.request("GET", "/api/links?limit=20")
            step += 1

    clients = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(20)]
    for thread in clients:
        thread.start()
    cut = 0
    started = time.monotonic()
    while time.monotonic() - started < 20:
        time.sleep(3)
        cut += terminate_connections(site.database_url)
    stop.set()
    for thread in clients:
        thread.join(timeout=60)

    errors = sorted(s for s in site.statuses if s >= 500)
    assert errors == [], (errors, site.log_tails())
    assert set(answered) == set(paths)
    link_ids = sorted(set(answered.values()))
    assert len(link_ids) == len(paths)  # one link per address, however many clients added it
    assert wait_for(lambda: site.all_succeeded(link_ids), 120, step=2), (
        site.newest_statuses(link_ids),
        site.log_tails(),
    )
    print(f"\n{cut} PostgreSQL connections cut off in 20 s under {len(site.statuses)} requests "
          f"from 20 clients: 0 × 5xx, {len(link_ids)} links, every capture succeeded; "
          f"worker restarts {[w.restarts for w in site.workers]}")  # fmt: skip


def test_two_hanging_pages_hold_one_worker_and_the_other_captures_go_on(site):
    """Two pages of one site that never answer, added first, and ten pages of another site: the
    hanging site gets one of the two workers, so the other captures are not held up."""
    for n in range(2):
        site.pages.route(f"/hangs-{n}", body=page("never"), delay=600)
    hanging = [site.add_link(f"/hangs-{n}") for n in range(2)]
    time.sleep(1)  # both taken up first, the worst case
    added = time.monotonic()
    others = []
    for n in range(10):
        site.pages.route(
            f"/fine-{n}", body=page(f"Fine {n}"), headers={"Content-Type": "text/html"}
        )
        status, answer = site.request(
            "POST", "/api/links", {"url": site.pages.url(f"/fine-{n}", host="localhost")}
        )
        assert status == 201, status
        others.append(answer["id"])

    assert wait_for(lambda: site.all_succeeded(others), 60, step=0.5), (
        site.newest_statuses(others),
        site.log_tails(),
    )
    waited = time.monotonic() - added
    assert site.newest_statuses(hanging) != ["succeeded"] * 2
    print(f"\ntwo hanging pages and two workers: the other site's 10 captures all succeeded "
          f"{waited:.1f} s after they were added")  # fmt: skip
