"""A slow or hanging site cannot hold every worker: captures per host are limited, retries are short."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from kb.messages import to_json
from kb.models import WorkerHeartbeat
from snapshots.capture.errors import DEADLINE
from snapshots.models import Link, Snapshot
from snapshots.tasks import capture_policy, run_capture, snapshot_request
from tests.snapshots.test_capture_task import serve_site
from tests.support.capture import capture_from
from tests.support.servers import LocalHTTPServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def server():
    with LocalHTTPServer() as server:
        serve_site(server)
        yield server


@pytest.fixture(autouse=True)
def capture_settings(settings, server, tmp_path):
    settings.KB_CAPTURE_PER_HOST = 2
    return capture_from(settings, server, tmp_path)


@pytest.fixture
def queued(monkeypatch):
    """What the task queued again, as (snapshot id, delay), instead of a real queue."""
    calls: list[tuple[int, timedelta | None]] = []
    monkeypatch.setattr(
        "snapshots.tasks.snapshot_enqueue",
        lambda snapshot_id, delay=None: calls.append((snapshot_id, delay)) or True,
    )
    return calls


def link(user, url: str) -> Link:
    return Link.objects.create(owner=user, url=url, normalized_url=url)


def running(user, url: str, started_ago: float = 10.0) -> Snapshot:
    """A capture of ``url`` another worker is running (started ``started_ago`` seconds ago)."""
    return Snapshot.objects.create(
        link=link(user, url),
        status=Snapshot.Status.RUNNING,
        attempts=1,
        started=timezone.now() - timedelta(seconds=started_ago),
    )


def test_a_capture_of_a_host_at_its_limit_waits_its_turn_without_using_an_attempt(
    user, server, queued
):
    page = server.url("/index.html")
    busy = [running(user, f"{page}?n={n}") for n in range(2)]
    snapshot = snapshot_request(link=link(user, page), enqueue=False)

    assert run_capture(snapshot.pk, wait_for_retries=False) == Snapshot.Status.PENDING
    snapshot.refresh_from_db()
    assert (snapshot.status, snapshot.attempts, snapshot.started) == ("pending", 0, None)
    assert server.request_count == 0  # the busy host was not asked for anything more
    [(snapshot_id, delay)] = queued
    assert snapshot_id == snapshot.pk
    assert timedelta(seconds=5) <= delay <= timedelta(seconds=10)

    Snapshot.objects.filter(pk=busy[0].pk).update(status=Snapshot.Status.SUCCEEDED)
    assert run_capture(snapshot.pk, wait_for_retries=False) == Snapshot.Status.SUCCEEDED
    snapshot.refresh_from_db()
    assert snapshot.attempts == 1


def test_captures_of_other_hosts_go_on_while_one_host_is_busy(user, server, queued):
    for n in range(4):
        running(user, f"https://slow.example/{n}")
    snapshot = snapshot_request(link=link(user, server.url("/index.html")), enqueue=False)
    assert run_capture(snapshot.pk, wait_for_retries=False) == Snapshot.Status.SUCCEEDED
    assert queued == []


def test_a_host_that_hung_recently_gets_one_capture_at_a_time(user, server, queued):
    page = server.url("/index.html")
    Snapshot.objects.create(
        link=link(user, f"{page}?hung"),
        status=Snapshot.Status.FAILED,
        started=timezone.now() - timedelta(minutes=3),
        error=DEADLINE,
        error_message=to_json(DEADLINE),
    )
    running(user, f"{page}?other")
    snapshot = snapshot_request(link=link(user, page), enqueue=False)
    assert run_capture(snapshot.pk, wait_for_retries=False) == Snapshot.Status.PENDING
    assert len(queued) == 1


def test_captures_a_dead_worker_left_running_do_not_hold_the_host(user, server, queued):
    page = server.url("/index.html")
    for n in range(3):
        running(user, f"{page}?n={n}", started_ago=15 * 60)
    snapshot = snapshot_request(link=link(user, page), enqueue=False)
    assert run_capture(snapshot.pk, wait_for_retries=False) == Snapshot.Status.SUCCEEDED


def test_a_retry_gets_twenty_seconds_and_five_second_reads(settings):
    settings.KB_CAPTURE_FETCH_OPTIONS = {}
    first, retry = capture_policy(1), capture_policy(2)
    now = time.monotonic()
    assert 55 < first.deadline - now <= 60
    assert first.read_timeout == 15.0
    assert 15 < retry.deadline - now <= 20
    assert retry.read_timeout == 5.0
    settings.KB_CAPTURE_RETRY_SECONDS = 8
    assert capture_policy(3).deadline - time.monotonic() <= 8


def test_a_page_that_hangs_is_failed_fast_on_its_retries(user, server, settings):
    """First attempt: the configured read timeout; the retries: RETRY_READ_TIMEOUT at most."""
    settings.KB_CAPTURE_FETCH_OPTIONS = {"read_timeout": 8.0}
    settings.KB_CAPTURE_RETRY_DELAYS = (0, 0)
    server.route("/hang", body=b"late", delay=30)
    snapshot = snapshot_request(link=link(user, server.url("/hang")), enqueue=False)
    assert run_capture(snapshot.pk) == Snapshot.Status.FAILED
    snapshot.refresh_from_db()
    assert snapshot.error == "the server did not answer within 5 seconds"  # not 8: a retry's
    assert snapshot.attempts == 3


def test_one_host_never_takes_every_live_worker_while_others_wait(user, server, queued):
    """Two workers alive and the default of two per host: with another host's capture waiting,
    the second capture of a host waits its turn; alone in the queue it goes on."""
    now = timezone.now()
    for pid in (101, 102):
        WorkerHeartbeat.objects.create(
            hostname="worker", pid=pid, queue="default", started_at=now, beat_at=now
        )
    page = server.url("/index.html")
    running(user, f"{page}?first")
    other = snapshot_request(link=link(user, "https://elsewhere.example/"), enqueue=False)
    snapshot = snapshot_request(link=link(user, page), enqueue=False)
    assert run_capture(snapshot.pk, wait_for_retries=False) == Snapshot.Status.PENDING
    assert len(queued) == 1
    other.delete()
    assert run_capture(snapshot.pk, wait_for_retries=False) == Snapshot.Status.SUCCEEDED
