"""Worker heartbeats: each worker process says, every few seconds, that it is alive.

A worker that runs no task for an hour is as alive as a busy one, and a dead one may have finished
a task a second before it died: the time of the last task tells nothing. So each worker process
(``db_worker``, ``rqworker``, also when ``manage.py serve`` starts it) keeps one
``WorkerHeartbeat`` row, keyed by host name and process id, and rewrites its ``beat_at`` every
``KB_HEARTBEAT_SECONDS`` from a daemon thread. A row silent for three beats (``dead_after``) is a
dead process's: ``live_workers`` leaves it out and the next beat of any worker deletes it. A worker
that stops cleanly (SIGTERM, Ctrl-C, the end of ``--batch``) deletes its own row on the way out.

Started by ``KbConfig.ready`` through ``start_for_worker``. Not in rq's work horses (forked per
job: a fork keeps only the thread that forked) nor in the parent of an autoreloading
``db_worker``, which runs no task itself.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import sys
import threading
import time
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.models import QuerySet
from django.utils import timezone

from kb.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

# The processes that run tasks (the same as snapshots.tasks.WORKER_COMMANDS).
WORKER_COMMANDS = frozenset({"db_worker", "rqworker", "rqworker-pool"})
# rqworker's options that take a value; its other words are the names of the queues it works on.
RQ_VALUE_OPTIONS = frozenset(
    {
        "--worker-class", "--queue-class", "--job-class", "--worker-ttl", "--name", "--pid",
        "--sentry-dsn", "--sentry-debug", "--sentry-ca-certs", "--max-jobs", "--max-idle-time",
        "--serializer", "--results-ttl", "--connection-class", "--logging_level", "--url",
        "--dequeue-strategy", "--num-workers", "-n", "--settings", "--pythonpath", "--verbosity", "-v",
    }
)  # fmt: skip


def beat_every() -> float:
    return settings.KB_HEARTBEAT_SECONDS


def dead_after() -> timedelta:
    """A worker silent this long is dead (three beats: one slow database answer is not death)."""
    return timedelta(seconds=3 * settings.KB_HEARTBEAT_SECONDS)


def live_workers(now: datetime | None = None) -> QuerySet:
    """The heartbeats of the worker processes alive now (``beat_at`` is indexed)."""
    now = now or timezone.now()
    return WorkerHeartbeat.objects.filter(beat_at__gte=now - dead_after())


def queue_names(argv: list[str]) -> str:
    """The queues a worker command line works on, comma-separated ("default" unless it says)."""
    command, words = argv[1], argv[2:]
    if command == "db_worker":
        for index, word in enumerate(words):
            if word.startswith("--queue-name="):
                return word.split("=", 1)[1] or "default"
            if word == "--queue-name" and index + 1 < len(words):
                return words[index + 1]
        return "default"
    names, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in RQ_VALUE_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            names.append(word)
    return ",".join(names) or "default"


def is_worker(argv: list[str]) -> bool:
    """Does this command line run tasks in this process?"""
    if len(argv) < 2 or argv[1] not in WORKER_COMMANDS:
        return False
    if argv[1] == "db_worker":
        reloading = "--reload" in argv or (settings.DEBUG and "--no-reload" not in argv)
        # The autoreloader's parent only restarts its child (RUN_MAIN=true), which runs the tasks.
        return not reloading or os.environ.get("RUN_MAIN") == "true"
    return True


class Heartbeat:
    """This process's heartbeat row, rewritten from a daemon thread until ``stop``."""

    def __init__(self, queue: str = "default") -> None:
        self.hostname = socket.gethostname()[:255]
        self.pid = os.getpid()
        self.queue = queue[:255]
        self.started_at = timezone.now()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """Say this process is alive now, and delete the rows of processes that are not."""
        now = timezone.now()
        # One UPDATE a beat: short write locks, which SQLite shares with every request.
        mine = WorkerHeartbeat.objects.filter(hostname=self.hostname, pid=self.pid)
        if not mine.update(queue=self.queue, beat_at=now):  # the first beat, or pruned while away
            WorkerHeartbeat.objects.get_or_create(
                hostname=self.hostname,
                pid=self.pid,
                defaults={"queue": self.queue, "beat_at": now, "started_at": self.started_at},
            )
        WorkerHeartbeat.objects.filter(beat_at__lt=now - dead_after()).delete()

    def forget(self) -> None:
        """Delete this process's row: it stops on purpose and is not to be counted as alive."""
        WorkerHeartbeat.objects.filter(hostname=self.hostname, pid=self.pid).delete()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kb-heartbeat", daemon=True)
        self._thread.start()
        atexit.register(self.stop)
        # Until the worker sets its own handler (db_worker and rq do, once started), a SIGTERM
        # would end the process without running atexit and leave a live-looking row behind.
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        ):
            signal.signal(signal.SIGTERM, _exit_on_sigterm)

    def stop(self) -> None:
        """Stop beating and delete the row (at exit; a rq work horse leaves by os._exit, not here)."""
        if os.getpid() != self.pid:  # a forked child that happens to exit normally
            return
        self._stopped.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        try:
            self.forget()
        except Exception:
            logger.warning("could not delete this worker's heartbeat", exc_info=True)
        finally:
            connections.close_all()

    def _run(self) -> None:
        while not apps.ready:  # Django discourages queries while apps are still loading
            time.sleep(0.05)
        while not self._stopped.is_set():
            try:
                self.beat()
            except Exception:  # the database is away: beat again next time
                logger.warning("could not write this worker's heartbeat", exc_info=True)
            finally:
                connections.close_all()  # this thread's own connection; the worker keeps its own
            self._stopped.wait(beat_every())


def _exit_on_sigterm(signum, frame) -> None:
    sys.exit(128 + signum)


_heartbeat: Heartbeat | None = None


def start_for_worker(argv: list[str] | None = None) -> Heartbeat | None:
    """In a worker process, start beating (once); elsewhere do nothing and return None."""
    global _heartbeat
    argv = sys.argv if argv is None else argv
    if _heartbeat is not None or not is_worker(argv):
        return None
    _heartbeat = Heartbeat(queue_names(argv))
    _heartbeat.start()
    return _heartbeat
