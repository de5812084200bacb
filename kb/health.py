"""Can kb do its work now? The checks behind GET /healthz, each cheap enough for every probe.

- The database answers (``SELECT 1``).
- The queue answers: Redis is pinged (one-second timeouts) when tasks go through rq; with the
  database backend the database is the queue, and ``immediate`` runs tasks in the request.
- A worker is alive when captures wait: a worker process's heartbeat (kb.heartbeat) newer than
  three beats. Not the time of the last task, which says nothing about a quiet worker or a dead one.
- The oldest waiting capture (queued or running, kb's database being the truth, not the broker)
  was asked for less than ``KB_HEALTH_PENDING_LIMIT`` seconds ago. Recovery (snapshots.tasks)
  takes up a lost one within a minute or two and retries end within minutes, so one older than
  the limit means captures are not progressing.

``check()`` returns each problem as a sentence, in the active language, and the details that
``/healthz`` sends along. The database problem makes the later checks moot: they are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from kb.heartbeat import dead_after
from kb.models import WorkerHeartbeat
from snapshots.queries import oldest_waiting_capture
from snapshots.tasks import capture_chromium

# Backends whose tasks run only when a worker process takes them.
BACKENDS_WITH_WORKERS = frozenset({"database", "rq"})
# A health probe waits at most this long for Redis.
REDIS_TIMEOUT_SECONDS = 1.0

_redis_clients: dict = {}


@dataclass
class Health:
    problems: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(now: datetime | None = None) -> Health:
    """Every check, in order; the first problem with the database skips the ones that need it."""
    now = now or timezone.now()
    health = Health()
    database_ok = check_database(health)
    check_queue(health)
    check_browser(health)
    if database_ok:
        try:
            oldest = check_waiting_captures(health, now)
            check_workers(health, now, captures_waiting=oldest is not None)
        except DatabaseError as error:  # it answered SELECT 1 and then stopped
            database_problem(health, error)
    return health


def database_problem(health: Health, error: Exception) -> None:
    health.details["database"] = {"ok": False, "vendor": connection.vendor, "error": str(error)}
    health.problems.append(_("The database does not answer: %(error)s") % {"error": error})


def check_database(health: Health) -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        database_problem(health, error)
        return False
    health.details["database"] = {"ok": True, "vendor": connection.vendor}
    return True


def redis_client(url: str):
    """One client (and connection pool) per URL for the life of the process."""
    if url not in _redis_clients:
        _redis_clients[url] = redis.Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
    return _redis_clients[url]


def check_queue(health: Health) -> None:
    backend = settings.KB_TASK_BACKEND
    queue = {"backend": backend, "ok": True}
    health.details["queue"] = queue
    if backend != "rq":
        return  # the database (checked above) or no queue at all
    url = settings.RQ_QUEUES["default"]["URL"]
    try:
        redis_client(url).ping()
    except (redis.RedisError, OSError) as error:
        queue.update(ok=False, error=str(error))
        health.problems.append(
            _("The task queue (Redis) does not answer: %(error)s. Captures cannot be queued.")
            % {"error": error}
        )


def check_browser(health: Health) -> None:
    """Says whether the browser engine is on; never a problem (without it captures are static)."""
    chromium = capture_chromium()
    health.details["browser"] = {
        "engine": settings.KB_CAPTURE_ENGINE,
        "available": chromium is not None,
        "chromium": chromium,
        "note": None
        if chromium
        else _("The browser engine is off: no Chromium was found; pages are captured statically."),
    }


def check_waiting_captures(health: Health, now: datetime) -> datetime | None:
    limit = settings.KB_HEALTH_PENDING_LIMIT
    oldest = oldest_waiting_capture()
    age = max(0, round((now - oldest).total_seconds())) if oldest else None
    health.details["captures"] = {
        "oldest_waiting": oldest.isoformat() if oldest else None,
        "oldest_waiting_seconds": age,
        "limit_seconds": round(limit),
    }
    if age is not None and age > limit:
        health.problems.append(
            _(
                "The oldest waiting capture was asked for %(age)d seconds ago (the limit is "
                "%(limit)d): captures are not progressing."
            )
            % {"age": age, "limit": limit}
        )
    return oldest


def check_workers(health: Health, now: datetime, *, captures_waiting: bool) -> None:
    needed = settings.KB_TASK_BACKEND in BACKENDS_WITH_WORKERS
    # The last beat of any worker, dead ones included (their rows stay until a live worker prunes
    # them): when it was, if none is alive now.
    live = WorkerHeartbeat.objects.aggregate(
        alive=Count("pk", filter=Q(beat_at__gte=now - dead_after())), last=Max("beat_at")
    )
    last = live["last"]
    health.details["worker"] = {
        "needed": needed,
        "alive": live["alive"],
        "last_seen": last.isoformat() if last else None,
        "seconds_ago": max(0, round((now - last).total_seconds())) if last else None,
    }
    if needed and captures_waiting and not live["alive"]:
        health.problems.append(
            _(
                "No worker is alive (none has sent a heartbeat in %(seconds)d seconds) and "
                "captures are waiting: nothing will take them."
            )
            % {"seconds": dead_after().total_seconds()}
        )
