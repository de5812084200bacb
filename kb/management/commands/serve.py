"""`manage.py serve`: the web server and the background worker together, stopped together.

`make run` uses it. The web server is gunicorn (the production server, so what you try is what you
deploy); the worker is whatever KB_TASK_BACKEND needs (``WORKERS``): `db_worker` for the database
backend, `rqworker` for Redis, none for `immediate`. README's Configuration and Production sections
quote these command lines; a test holds them to it.
"""

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

# The rq worker: django-tasks-rq's job class runs django.tasks tasks (rq's own calls the Task
# object and fails), and the scheduler puts retries on the queue once their run_after has come.
RQ_WORKER = ("rqworker", "--job-class", "django_tasks_rq.Job", "--with-scheduler", "default")
DB_WORKER = ("db_worker", "--interval", "1", "--no-reload")
# The worker each KB_TASK_BACKEND needs (`immediate` runs tasks inside the request: none).
WORKERS = {"database": DB_WORKER, "rq": RQ_WORKER}


class Command(BaseCommand):
    help = "Serve the site and run its background worker; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000", help="address:port to listen on")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")

    def handle(self, *args, bind: str, workers: int, **options):
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

        children = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}  # noqa: S603
        self.stdout.write(
            self.style.SUCCESS(f"kb is at http://{bind}/ — Ctrl-C stops the server and the worker.")
        )
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with code {child.returncode}; stopping.")
                        stopping = True
                time.sleep(0.3)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.terminate()
            deadline = time.monotonic() + 10
            for child in children.values():
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
