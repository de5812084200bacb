"""The capture queue recovers by itself: the database, not the broker, says what is to capture.

An add whose enqueue fails (Redis down) still answers with the saved link and its pending
snapshot; a pending snapshot whose job was lost is queued again by the worker's pass.
"""

import json
import socket
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from taggit.models import Tag

from kb.models import ApiToken
from snapshots.models import Link, Snapshot
from snapshots.tasks import capture_snapshot, requeue_lost_captures, snapshot_request
from tests.support.capture import capture_from
from tests.support.servers import LocalHTTPServer

PAGE = (
    b"<!doctype html><html><head><title>Back again</title></head><body><p>Here.</p></body></html>"
)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_down(settings):
    """kb on the rq backend, its Redis a port nobody listens on."""
    settings.TASKS = {"default": {"BACKEND": "kb.task_backends.RQBackend", "QUEUES": ["default"]}}
    settings.RQ_QUEUES = {"default": {"URL": f"redis://127.0.0.1:{closed_port()}/11"}}


@pytest.mark.django_db(transaction=True)
def test_an_api_add_while_redis_is_down_answers_201_with_a_pending_snapshot(
    redis_down, user, caplog
):
    client = Client(headers={"Authorization": f"Bearer {ApiToken.issue(user)[1]}"})
    body = {"url": "https://example.org/queued", "tags": ["later"]}
    response = client.post("/api/links", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    link = Link.objects.get(pk=response.json()["id"])
    assert [s.status for s in link.snapshots.all()] == [Snapshot.Status.PENDING]
    assert "stays pending" in caplog.text
    again = client.post("/api/links", json.dumps(body), content_type="application/json")
    assert again.status_code == 200
    assert link.snapshots.filter(status=Snapshot.Status.PENDING).count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_add_page_while_redis_is_down_saves_the_link_and_opens_it(redis_down, user):
    client = Client()
    client.force_login(user)
    response = client.post(
        reverse("snapshots:link_add"), {"url": "https://example.org/page", "tags": "x"}
    )
    link = Link.objects.get(owner=user)
    assert response.status_code == 302
    assert response.url == reverse("snapshots:link_detail", args=[link.pk])
    assert link.latest_snapshot.status == Snapshot.Status.PENDING


# --- pending captures whose job was lost are queued again -----------------------------------------


@pytest.fixture
def server():
    with LocalHTTPServer() as server:
        server.route("/page", body=PAGE, headers={"Content-Type": "text/html; charset=utf-8"})
        yield server


@pytest.fixture
def lost_snapshot(user, server, settings, tmp_path):
    """A pending snapshot, two minutes old, whose enqueue never reached a queue."""
    capture_from(settings, server, tmp_path)
    url = server.url("/page")
    link = Link.objects.create(owner=user, url=url, normalized_url=url)
    snapshot = snapshot_request(link=link, enqueue=False)
    Snapshot.objects.filter(pk=snapshot.pk).update(requested=timezone.now() - timedelta(minutes=2))
    return snapshot


@pytest.fixture
def database_queue(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.mark.django_db
def test_a_pending_capture_whose_enqueue_was_lost_is_captured_by_the_pass(lost_snapshot):
    result = requeue_lost_captures(older_than=timedelta(seconds=60))
    assert result.requeued == [lost_snapshot.pk]
    lost_snapshot.refresh_from_db()
    assert lost_snapshot.status == Snapshot.Status.SUCCEEDED  # the immediate backend ran it
    assert lost_snapshot.title == "Back again"


@pytest.mark.django_db
def test_a_young_pending_capture_is_left_to_its_queue(lost_snapshot):
    Snapshot.objects.filter(pk=lost_snapshot.pk).update(requested=timezone.now())
    assert requeue_lost_captures(older_than=timedelta(seconds=60)).requeued == []
    assert Snapshot.objects.get(pk=lost_snapshot.pk).status == Snapshot.Status.PENDING


@pytest.mark.django_db
def test_a_lost_job_is_queued_again_once_and_a_live_one_not_at_all(lost_snapshot, database_queue):
    Snapshot.objects.filter(pk=lost_snapshot.pk).update(task_id="job-the-broker-forgot")
    live = snapshot_request(link=lost_snapshot.link, enqueue=False)
    job = capture_snapshot.enqueue(live.pk)  # waits in the database queue: alive
    Snapshot.objects.filter(pk=live.pk).update(
        task_id=str(job.id), requested=timezone.now() - timedelta(minutes=2)
    )
    first = requeue_lost_captures(older_than=timedelta(seconds=60))
    assert first.requeued == [lost_snapshot.pk]
    lost_snapshot.refresh_from_db()
    assert lost_snapshot.status == Snapshot.Status.PENDING  # now waiting in the queue
    assert lost_snapshot.task_id not in ("", "job-the-broker-forgot")
    second = requeue_lost_captures(older_than=timedelta(seconds=60))
    assert second.requeued == []  # its new job is alive


@pytest.mark.django_db
def test_a_pending_capture_whose_job_ended_is_queued_again(lost_snapshot, database_queue):
    job = capture_snapshot.enqueue(lost_snapshot.pk)
    Snapshot.objects.filter(pk=lost_snapshot.pk).update(task_id=str(job.id))
    DBTaskResult.objects.filter(pk=job.id).update(status="FAILED")
    assert requeue_lost_captures(older_than=timedelta(seconds=60)).requeued == [lost_snapshot.pk]


@pytest.mark.django_db
def test_the_pass_while_the_queue_is_down_queues_nothing_and_raises_nothing(
    lost_snapshot, redis_down
):
    Snapshot.objects.filter(pk=lost_snapshot.pk).update(task_id="gone")
    assert requeue_lost_captures(older_than=timedelta(seconds=60)).requeued == []
    assert Snapshot.objects.get(pk=lost_snapshot.pk).status == Snapshot.Status.PENDING


@pytest.mark.django_db
def test_recapture_stuck_queues_lost_pending_captures(lost_snapshot):
    out = StringIO()
    call_command("recapture", "--stuck", stdout=out)
    assert "1 queued again, 0 given up" in out.getvalue()
    assert Snapshot.objects.get(pk=lost_snapshot.pk).status == Snapshot.Status.SUCCEEDED


# --- concurrent adds -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_adds_with_a_brand_new_tag_answer_no_5xx(user, settings):
    """New and existing links, all tagged with a tag nobody has yet, at once (PostgreSQL: tag row,
    link row and revision row locked in one order; deadlocks tried again)."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite runs one writer at a time")
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    existing = [f"https://example.org/old/{n}" for n in range(5)]
    for url in existing:
        Link.objects.create(owner=user, url=url, normalized_url=url)
    token = ApiToken.issue(user)[1]
    urls = existing * 2 + [f"https://example.org/new/{n % 7}" for n in range(10)]
    start = threading.Barrier(len(urls))
    statuses: list[int] = []

    def add(url: str) -> None:
        client = Client(headers={"Authorization": f"Bearer {token}"}, raise_request_exception=False)
        body = json.dumps({"url": url, "tags": ["brand-new", f"t{len(url) % 3}"]})
        try:
            start.wait()
            response = client.post("/api/links", body, content_type="application/json")
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 13 + [201] * 7
    assert Tag.objects.filter(name="brand-new").count() == 1
    assert Link.objects.filter(owner=user).count() == 12
    assert Link.objects.filter(tags__name="brand-new").count() == 12
    assert Snapshot.objects.count() == 20
