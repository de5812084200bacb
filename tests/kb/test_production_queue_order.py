"""Who goes first on the production queue (rq on Redis, PostgreSQL): a link a person adds is
captured before the rest of an import queued earlier, by README's own rq worker; its retry, when
rq's scheduler moves it back to the queue, goes to the front too.

Runs where ``KB_PRODUCTION_TEST_DATABASE_URL`` and ``KB_PRODUCTION_TEST_REDIS_URL`` are set (see
test_production_rq.py, whose site this borrows); the database queue: tests/snapshots/
test_capture_queue_order.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta

import django_rq
import psycopg
import pytest
import redis
from django.conf import settings
from django.utils import timezone
from rq.scheduler import RQScheduler

from snapshots.models import Link, Snapshot
from snapshots.services.importer import import_bookmarks
from snapshots.services.links import link_create
from snapshots.tasks import snapshot_enqueue
from tests.kb import test_production_rq as production
from tests.kb.test_production_rq import DATABASE_URL, REDIS_URL, page

# Its fixtures: README's site on PostgreSQL and Redis (files only here), one user of them at a time.
site = production.site
services_to_ourselves = production.services_to_ourselves

IMPORTED = 40

# The same marks and the same "set these variables" skip as the production path's own tests.
pytestmark = production.pytestmark


def bookmarks_file(urls: list[str]) -> bytes:
    rows = "\n".join(f'<DT><A HREF="{url}">Imported {n}</A>' for n, url in enumerate(urls))
    return f"<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n{rows}\n</DL><p>\n".encode()


def capture_order() -> list[str]:
    """The links' paths in the order the worker started their captures."""
    with psycopg.connect(DATABASE_URL) as db:
        rows = db.execute(
            "SELECT l.url FROM snapshots_snapshot s JOIN snapshots_link l ON l.id = s.link_id "
            "WHERE s.started IS NOT NULL ORDER BY s.started, s.id"
        ).fetchall()
    return ["/" + url.rsplit("/", 1)[1] for (url,) in rows]


@pytest.mark.parametrize("site", ["files"], indirect=True)
def test_a_link_added_by_hand_is_captured_before_the_rest_of_an_import(site, tmp_path):
    worker = site.processes["worker"]
    worker.send_signal(signal.SIGTERM)  # the import and the add both wait in Redis
    worker.wait(timeout=30)
    paths = [f"/imported-{n}" for n in range(IMPORTED)] + ["/by-hand"]
    for path in paths:
        site.pages.route(path, body=page(path[1:]), headers={"Content-Type": "text/html"})
    bookmarks = tmp_path / "bookmarks.html"
    bookmarks.write_bytes(bookmarks_file([site.pages.url(path) for path in paths[:-1]]))
    subprocess.run(
        [sys.executable, "manage.py", "import_bookmarks", str(bookmarks), "--user", "ada"],
        cwd=settings.BASE_DIR,
        env=site.env,
        check=True,
        timeout=180,
        capture_output=True,
    )
    link_id = site.add_link("/by-hand")

    site.start("worker")  # README's command
    mine = site.snapshot_when_done(link_id, seconds=120)

    assert mine["status"] == "succeeded", site.log_tails()
    assert capture_order()[0] == "/by-hand"
    deadline = time.monotonic() + 180
    while len(capture_order()) < len(paths) and time.monotonic() < deadline:
        time.sleep(0.5)
    # then the import, in its own order
    assert capture_order()[1:] == paths[:-1], site.log_tails()


@pytest.fixture
def rq_queue(settings, services_to_ourselves):
    """kb on the rq backend and the real Redis, no worker: the queue as Redis holds it."""
    settings.TASKS = {"default": {"BACKEND": "kb.task_backends.RQBackend", "QUEUES": ["default"]}}
    settings.RQ_QUEUES = {"default": {"URL": REDIS_URL}}
    redis.Redis.from_url(REDIS_URL).flushdb()
    yield django_rq.get_queue("default")
    redis.Redis.from_url(REDIS_URL).flushdb()


def queued_snapshots(queue) -> list[int]:
    return [queue.fetch_job(job_id).args[0] for job_id in queue.job_ids]


@pytest.mark.django_db
def test_redis_holds_the_link_added_by_hand_first_and_its_retry_goes_back_to_the_front(
    rq_queue, user, django_capture_on_commit_callbacks
):
    urls = [f"https://imported-{n}.example/" for n in range(IMPORTED)]
    with django_capture_on_commit_callbacks(execute=True):
        import_bookmarks(owner=user, data=bookmarks_file(urls))
    with django_capture_on_commit_callbacks(execute=True):
        link, _ = link_create(owner=user, url="https://by-hand.example/")
    mine = Link.objects.get(pk=link.pk).latest_snapshot
    imported = list(
        Snapshot.objects.exclude(pk=mine.pk).order_by("pk").values_list("pk", flat=True)
    )

    assert queued_snapshots(rq_queue) == [mine.pk, *imported]

    # Its first attempt failed: the retry waits in rq's schedule, then goes to the front.
    rq_queue.remove(rq_queue.job_ids[0])
    snapshot_enqueue(mine.pk, delay=timedelta(seconds=1))
    assert queued_snapshots(rq_queue) == imported
    registry = rq_queue.scheduled_job_registry
    job_id = registry.get_job_ids()[0]
    registry.schedule(rq_queue.fetch_job(job_id), timezone.now() - timedelta(seconds=1))
    scheduler = RQScheduler([rq_queue], connection=rq_queue.connection)
    scheduler.acquire_locks()
    scheduler.enqueue_scheduled_jobs()
    scheduler.release_locks()
    assert queued_snapshots(rq_queue) == [mine.pk, *imported]
