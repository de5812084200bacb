"""`manage.py serve`: the worker it starts is the one README gives operators, its children never
outlive it, and it exits non-zero when a child cannot start or stops by itself."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys

import pytest
from django.conf import settings

from kb.management.commands.serve import RQ_WORKER
from tests.support.processes import (
    descendants,
    free_port,
    gone,
    still_running,
    wait_for,
    wait_until_serving,
)

README = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc; kb's children die with it on Linux"
)


def readme_section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no {title} section"
    return match.group(1)


def test_readme_gives_the_rq_worker_command_serve_starts():
    command = "manage.py " + " ".join(RQ_WORKER)
    assert command in readme_section("Configuration")
    assert command in readme_section("Production")
    assert "rqworker default" not in README  # the line that lost every capture


@pytest.fixture(scope="module")
def site_env(tmp_path_factory):
    """A fresh SQLite site with the database backend (so `serve` starts gunicorn and db_worker)."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env |= {
        "KB_DATA_DIR": str(tmp_path_factory.mktemp("serve-site")),
        "DJANGO_SETTINGS_MODULE": "kb.settings",
        "KB_TASK_BACKEND": "database",
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


def start_serve(env: dict, bind: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", bind, "--workers", "1"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def serving(site_env):
    """`serve` up on a free port with gunicorn answering and the worker started; stopped after."""
    port = free_port()
    serve = start_serve(site_env, f"127.0.0.1:{port}")
    children: dict[int, str] = {}
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/healthz", serve)
        worker = wait_for(lambda: worker_pid(serve.pid), 60)
        assert worker, "serve started no worker"
        children = descendants(serve.pid)
        yield serve
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGINT)
            serve.wait(timeout=30)
        for pid in still_running(children):  # orphans: only if the test failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def worker_pid(serve_pid: int) -> int | None:
    return next((pid for pid, cmd in descendants(serve_pid).items() if "db_worker" in cmd), None)


@linux_only
@pytest.mark.network
def test_kill_9_of_serve_takes_gunicorn_and_the_worker_with_it(serving):
    children = descendants(serving.pid)
    assert any("gunicorn" in cmd for cmd in children.values()), children
    os.kill(serving.pid, signal.SIGKILL)
    serving.wait(timeout=5)
    # The worker stops as on any SIGTERM: a statement it is in finishes first, and on SQLite a write
    # may wait out the busy timeout (20 s) while the machine is loaded (seen in CI beside the
    # browser tests); what matters is that nothing is left running.
    assert wait_for(lambda: gone(children), 45), still_running(children)


@linux_only
@pytest.mark.network
def test_serve_exits_non_zero_when_its_worker_dies(serving):
    children = descendants(serving.pid)
    os.kill(worker_pid(serving.pid), signal.SIGKILL)
    assert serving.wait(timeout=30) != 0
    assert "worker exited" in serving.stderr.read()
    assert wait_for(lambda: gone(children), 15)


@pytest.mark.network
def test_serve_exits_non_zero_when_its_port_is_taken(site_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        serve = start_serve(site_env, bind)
        _, errors = serve.communicate(timeout=60)
    assert serve.returncode != 0
    assert f"cannot listen on {bind}" in errors
