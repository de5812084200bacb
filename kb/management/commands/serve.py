"""`manage.py serve`: the web server and the background worker together, stopped together.

`make run` uses it. The web server is gunicorn (the production server, so what you try is what you
deploy); the worker is whatever KB_TASK_BACKEND needs (``WORKERS``): `db_worker` for the database
backend, `rqworker` for Redis, none for `immediate`. README's Configuration and Production sections
quote these command lines; a test holds them to it.

Its children never outlive it, however it ends:

- Each child runs in its own process group, so Ctrl-C reaches ``serve`` alone and it stops the
  children in order (and a child's own children can be swept with its group).
- On Linux each child asks the kernel for SIGTERM when ``serve`` dies (``PR_SET_PDEATHSIG``), so even
  ``kill -9`` of ``serve`` stops gunicorn and the worker, each of which then stops its own children
  (gunicorn's workers, rq's scheduler) the way it does on any SIGTERM. A process group alone cannot
  do this: nobody is left to signal it once ``serve`` is killed.

``serve`` exits 0 only when asked to stop (Ctrl-C, SIGTERM). A child that cannot start (the port is
taken, Redis does not answer) or that stops by itself makes it stop the others and exit 1, so a
supervisor sees the failure and restarts it.
"""

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

# The rq worker: django-tasks-rq's job class runs django.tasks tasks (rq's own calls the Task
# object and fails), and the scheduler puts retries on the queue once their run_after has come.
RQ_WORKER = ("rqworker", "--job-class", "django_tasks_rq.Job", "--with-scheduler", "default")
DB_WORKER = ("db_worker", "--interval", "1", "--no-reload")
# The worker each KB_TASK_BACKEND needs (`immediate` runs tasks inside the request: none).
WORKERS = {"database": DB_WORKER, "rq": RQ_WORKER}
# How long the children have to finish what they are doing once asked to stop.
STOP_SECONDS = 10.0
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive SIGTERM when ``parent_pid`` dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def address_in_use(bind: str) -> str | None:
    """Why ``bind`` (host:port) cannot be listened on, or None if it can (or is not host:port)."""
    host, _, port = bind.rpartition(":")
    if not port.isdigit():
        return None  # unix:/path and the like: gunicorn says for itself
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - gunicorn's meaning of ":8000"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, int(port)))
        except OSError as error:
            return error.strerror or str(error)
    return None


class Command(BaseCommand):
    help = "Serve the site and run its background worker; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000", help="address:port to listen on")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")

    def handle(self, *args, bind: str, workers: int, **options):
        problem = address_in_use(bind)
        if problem:
            raise CommandError(f"cannot listen on {bind}: {problem}")
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        commands = {
            "web": [
                sys.executable, "-m", "gunicorn", "kb.wsgi",
                "--bind", bind, "--workers", str(workers), "--threads", "4",
                "--access-logfile", "-", "--graceful-timeout", "5",
            ],
        }  # fmt: skip
        if settings.KB_TASK_BACKEND in WORKERS:
            commands["worker"] = [*manage, *WORKERS[settings.KB_TASK_BACKEND]]

        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        children: dict[str, subprocess.Popen] = {}
        failure = ""
        try:
            preexec = die_with(os.getpid())
            for name, command in commands.items():
                children[name] = subprocess.Popen(  # noqa: S603
                    command, process_group=0, preexec_fn=preexec
                )
            self.stdout.write(
                self.style.SUCCESS(
                    f"kb is at http://{bind}/ — Ctrl-C stops the server and the worker."
                )
            )
            while not stopping and not failure:
                for name, child in children.items():
                    if child.poll() is not None:
                        failure = f"{name} exited with code {child.returncode}"
                        break
                else:
                    time.sleep(0.3)
        finally:
            stop_children(children.values())
        if failure:
            raise CommandError(f"{failure}; the others were stopped.")


def stop_children(children) -> None:
    """SIGTERM each child, SIGKILL one that outlasts ``STOP_SECONDS``, then sweep their groups."""
    children = list(children)
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    for child in children:
        # What a child left behind in its group (its own children, if it died without them).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
