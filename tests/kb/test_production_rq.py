"""The production path as README's Production section writes it: PostgreSQL, Redis, gunicorn and
the rq worker, each started from README's own command lines with README's own ``export`` lines,
captures asked for through the API. Twice: archives on local files (README without its S3 lines),
and in an S3-compatible bucket (README's S3 lines, pointed at moto's S3 server on 127.0.0.1).

Runs where ``KB_PRODUCTION_TEST_DATABASE_URL`` (a database this test creates and drops) and
``KB_PRODUCTION_TEST_REDIS_URL`` (a Redis database it empties) are set: ``make pytest-production``
sets them when PostgreSQL and Redis answer (CI has both). Elsewhere it skips and says why.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from django.conf import settings

from kb.management.commands.serve import RQ_WORKER
from tests.support.processes import descendants, free_port
from tests.support.s3 import S3Server
from tests.support.servers import LocalHTTPServer

DATABASE_URL = os.environ.get("KB_PRODUCTION_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("KB_PRODUCTION_TEST_REDIS_URL", "")
PAGES = 8
# rq schedules to the whole second (and its scheduler looks every second): a retry may come a second early.
RETRY_SECONDS = 3

pytestmark = [
    pytest.mark.production,
    pytest.mark.network,
    pytest.mark.skipif(
        not (DATABASE_URL and REDIS_URL),
        reason="set KB_PRODUCTION_TEST_DATABASE_URL and KB_PRODUCTION_TEST_REDIS_URL "
        "(make pytest-production does where PostgreSQL and Redis answer)",
    ),
]


def production_block() -> str:
    """README Production's first ``sh`` block: the variables and commands to run kb with."""
    readme = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Production", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def production_environment() -> dict[str, str]:
    """The variables README's Production ``export`` lines set, as written."""
    variables = {}
    for line in production_block().splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            variables |= dict(word.split("=", 1) for word in words[1:])
    return variables


def is_s3_variable(name: str) -> bool:
    return name == "KB_STORAGE_BACKEND" or name.startswith("AWS_")


def production_commands() -> dict[str, list[str]]:
    """README Production's gunicorn and rqworker lines, as argument lists for this interpreter."""
    block = production_block()
    commands = {}
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == [".venv/bin/gunicorn"]:
            commands["web"] = [sys.executable, "-m", "gunicorn", *words[1:]]
        elif words[:3] == [".venv/bin/python", "manage.py", "rqworker"]:
            commands["worker"] = [sys.executable, *words[1:]]
    assert set(commands) == {"web", "worker"}, block
    return commands


def with_option(command: list[str], option: str, value: str) -> list[str]:
    command = list(command)
    command[command.index(option) + 1] = value
    return command


def page(title: str) -> bytes:
    return (
        f"<!doctype html><html><head><title>{title}</title>"
        '<link rel="stylesheet" href="/site.css"></head>'
        f"<body><article><h1>{title}</h1><p>{'A paragraph of text to keep. ' * 20}</p>"
        "</article></body></html>"
    ).encode()


class Site:
    """kb as README's Production section runs it, and a fixture web server for it to capture."""

    def __init__(self, base_url: str, token: str, pages: LocalHTTPServer, logs: Path) -> None:
        self.base_url, self.token, self.pages, self.logs = base_url, token, pages, logs
        self.storage = "files"
        self.stored_objects = self.files_under_data_dir  # the blobs in the store kb uses
        self.processes: dict[str, subprocess.Popen] = {}  # web, worker: README's command lines
        self.env: dict[str, str] = {}  # what they run with (README's variables, for here)
        self.start: Callable[[str], subprocess.Popen]  # (re)start one of them

    def files_under_data_dir(self) -> set[str]:
        blobs = self.logs / "data" / "blobs"
        return {str(path.relative_to(blobs)) for path in blobs.rglob("*") if path.is_file()}

    def healthz(self) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def healthz_when(self, status: int, seconds: float = 60) -> dict:
        deadline = time.monotonic() + seconds
        while True:
            answer, body = self.healthz()
            if answer == status or time.monotonic() > deadline:
                assert answer == status, (body, self.log_tails())
                return body
            time.sleep(0.3)

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.base_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def add_link(self, path: str) -> int:
        return self.api("POST", "/api/links", {"url": self.pages.url(path), "tags": []})["id"]

    def snapshot_when_done(self, link_id: int, seconds: float = 60) -> dict:
        deadline = time.monotonic() + seconds
        while True:
            snapshot = self.api("GET", f"/api/links/{link_id}")["snapshots"][0]
            if snapshot["status"] in {"succeeded", "failed"} or time.monotonic() > deadline:
                return snapshot
            time.sleep(0.3)

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            for log in sorted(self.logs.glob("*.log"))
        )


def set_up_site(env: dict) -> str:
    """README's set-up steps (migrate, collectstatic), an administrator, and its API token."""

    def manage(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env,
            check=True,
            timeout=180,
            capture_output=True,
            text=True,
        ).stdout

    manage("migrate", "--noinput", "-v0")
    manage("collectstatic", "--noinput", "-v0")
    manage("shell", "-v0", "-c", "from django.contrib.auth import get_user_model\n"
           "get_user_model().objects.create_superuser('ada', password='correct horse 42')")  # fmt: skip
    return manage("api_token", "ada").strip().splitlines()[-1]


def fresh_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(url, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(url, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def services_to_ourselves():
    """The database and the Redis database are one site's alone: under ``pytest -n``, where the
    files and the S3 site may land on two workers, one worker at a time runs them."""
    key = hashlib.sha256(f"{DATABASE_URL} {REDIS_URL}".encode()).hexdigest()[:16]
    with (Path(tempfile.gettempdir()) / f"kb-production-test-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


@pytest.fixture(scope="module", params=["files", "s3"])
def site(request, tmp_path_factory, services_to_ourselves):
    storage = request.param
    folder = tmp_path_factory.mktemp(f"production-{storage}")
    fresh_database(DATABASE_URL)
    redis.Redis.from_url(REDIS_URL).flushdb()
    pages = LocalHTTPServer()
    pages.route("/site.css", body=b"h1 { color: #123456 }", headers={"Content-Type": "text/css"})
    s3 = S3Server() if storage == "s3" else None
    port = free_port()
    # README's variables as written, but for where this machine's services are:
    readme = production_environment()
    here = {
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port}",
    }
    if s3 is not None:
        bucket = s3.new_bucket()
        here |= {
            name: value
            for name, value in s3.environment(bucket).items()
            if name not in ("KB_STORAGE_BACKEND", "AWS_LOCATION")  # as README says
        }
    else:
        readme = {name: value for name, value in readme.items() if not is_s3_variable(name)}
    assert set(here) <= set(readme), "README's Production section no longer sets these"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("KB_") and not is_s3_variable(key)
    }
    env |= readme | here
    env |= {
        "DJANGO_SETTINGS_MODULE": "kb.settings",
        "KB_DATA_DIR": str(folder / "data"),
        "KB_STATIC_ROOT": str(folder / "static"),
        "KB_FETCH_ALLOW_HOSTS": f"127.0.0.1:{pages.port}",
        "KB_CAPTURE_RETRY_DELAYS": f"{RETRY_SECONDS},{RETRY_SECONDS}",
        "KB_HEARTBEAT_SECONDS": "1",  # a killed worker counts as dead after 3 s, not 30
    }

    token = set_up_site(env)

    commands = production_commands()
    commands["web"] = with_option(commands["web"], "--bind", f"127.0.0.1:{port}")
    commands["web"] = with_option(commands["web"], "--workers", "2")  # two cores shared in CI
    processes = {}

    def start(name: str) -> subprocess.Popen:
        log = (folder / f"{name}.log").open("a")
        processes[name] = subprocess.Popen(
            commands[name], cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        return processes[name]

    for name in commands:
        start(name)
    running = Site(f"http://127.0.0.1:{port}", token, pages, folder)
    running.storage = storage
    if s3 is not None:
        running.stored_objects = lambda: s3.keys(bucket)
    running.processes, running.start = processes, start
    running.env = env
    try:
        deadline = time.monotonic() + 60
        while True:
            assert all(p.poll() is None for p in processes.values()), running.log_tails()
            try:
                urllib.request.urlopen(f"{running.base_url}/healthz", timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, running.log_tails()
                time.sleep(0.3)
        yield running
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        pages.close()
        if s3 is not None:
            s3.close()
        redis.Redis.from_url(REDIS_URL).flushdb()
        drop_database(DATABASE_URL)


def test_readme_starts_the_worker_serve_starts():
    assert production_commands()["worker"][1:] == ["manage.py", *RQ_WORKER]


def test_every_link_added_through_the_api_is_captured_by_the_rq_worker(site):
    for number in range(PAGES):
        site.pages.route(
            f"/page-{number}", body=page(f"Page {number}"), headers={"Content-Type": "text/html"}
        )
    link_ids = [site.add_link(f"/page-{number}") for number in range(PAGES)]

    snapshots = [site.snapshot_when_done(link_id) for link_id in link_ids]

    assert [s["status"] for s in snapshots] == ["succeeded"] * PAGES, site.log_tails()
    assert [s["title"] for s in snapshots] == [f"Page {number}" for number in range(PAGES)]
    request = urllib.request.Request(
        site.base_url + snapshots[0]["archive_url"],
        headers={"Authorization": f"Bearer {site.token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as archive:
        assert '<link rel="stylesheet" href="data:text/css' in archive.read().decode()
    # Kept where README's variables say: in the bucket, or under KB_DATA_DIR (never both).
    assert len(site.stored_objects()) >= PAGES  # each page's own, and the stylesheet once
    if site.storage == "s3":
        assert site.files_under_data_dir() == set()


def test_a_page_that_fails_once_is_captured_on_the_scheduled_retry(site):
    answers = []

    def unavailable_once(handler, server):
        answers.append(time.monotonic())
        status, body = (503, b"busy") if len(answers) == 1 else (200, page("Back again"))
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    site.pages.route("/flaky", handler=unavailable_once)
    link_id = site.add_link("/flaky")

    snapshot = site.snapshot_when_done(link_id)

    assert (snapshot["status"], snapshot["title"]) == ("succeeded", "Back again"), site.log_tails()
    assert len(answers) == 2
    assert answers[1] - answers[0] >= RETRY_SECONDS - 1  # run by the scheduler, not at once


def test_healthz_is_ok_while_the_worker_runs_and_503_once_it_is_killed(site):
    site.pages.route("/later", body=page("Later"), headers={"Content-Type": "text/html"})
    body = site.healthz_when(200)
    assert (body["queue"], body["worker"]["alive"]) == ({"backend": "rq", "ok": True}, 1)

    # The worker and what it forked: rq's scheduler, a forked child, holds copies of the worker's
    # Redis sockets; left alive, a dead worker's blocked BLMOVE takes the next job to nowhere.
    worker = site.processes["worker"]
    for pid in [worker.pid, *descendants(worker.pid)]:
        os.kill(pid, signal.SIGKILL)
    worker.wait(timeout=10)
    link_id = site.add_link("/later")  # waits: nothing will take it

    body = site.healthz_when(503)
    assert body["worker"]["alive"] == 0
    assert body["problems"][0].startswith("No worker is alive")

    worker = site.start("worker")  # README's command again: the capture is taken, healthz is ok
    assert site.snapshot_when_done(link_id)["status"] == "succeeded", site.log_tails()
    assert site.healthz_when(200)["worker"]["alive"] == 1
    # One row, the worker's own: not its work horses' (one forked per capture) nor its scheduler's.
    assert heartbeats() == [(worker.pid, "default")]

    worker.send_signal(signal.SIGTERM)  # a clean stop takes its heartbeat away
    worker.wait(timeout=30)
    assert heartbeats() == []
    site.start("worker")


def heartbeats() -> list[tuple]:
    with psycopg.connect(DATABASE_URL) as db:
        return db.execute("SELECT pid, queue FROM kb_workerheartbeat ORDER BY pid").fetchall()
