"""A queued capture's page says how many captures wait ahead of it, and its history fragment (which
the page polls) carries the title the heading takes when the capture ends."""

import pytest
from django.urls import reverse

from snapshots.models import Link, Snapshot
from snapshots.services.links import link_create
from snapshots.tasks import captures_ahead, snapshot_request

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _captures_stay_queued(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def queued(owner, url: str) -> Snapshot:
    link, _ = link_create(owner=owner, url=url)
    return Link.objects.get(pk=link.pk).latest_snapshot


def test_the_position_counts_everyones_earlier_queued_captures(user, other_user):
    first = queued(other_user, "https://a.example/")
    second = queued(user, "https://b.example/")
    third = queued(user, "https://c.example/")
    assert [captures_ahead(s) for s in (first, second, third)] == [0, 1, 2]
    Snapshot.objects.filter(pk=first.pk).update(status=Snapshot.Status.RUNNING)
    assert captures_ahead(third) == 1  # a running capture is no longer waiting


def test_the_link_page_shows_the_position_and_next_in_line(client, user, other_user):
    for number in range(3):
        queued(other_user, f"https://a{number}.example/")
    mine = queued(user, "https://mine.example/")
    client.force_login(user)
    html = client.get(reverse("snapshots:link_detail", args=[mine.link_id])).content.decode()
    assert "3 captures ahead of this one." in html
    Snapshot.objects.exclude(pk=mine.pk).update(status=Snapshot.Status.SUCCEEDED)
    fragment = client.get(reverse("snapshots:link_capture_status", args=[mine.link_id]))
    assert "Next in line." in fragment.content.decode()


def test_the_polled_fragment_carries_the_title_once_captured(client, user):
    snapshot = queued(user, "https://mine.example/")
    client.force_login(user)
    status_url = reverse("snapshots:link_capture_status", args=[snapshot.link_id])
    assert 'data-page-title="https://mine.example/"' in client.get(status_url).content.decode()
    Snapshot.objects.filter(pk=snapshot.pk).update(
        status=Snapshot.Status.SUCCEEDED, title="Slow water"
    )
    Link.objects.filter(pk=snapshot.link_id).update(page_title="Slow water")
    fragment = client.get(status_url).content.decode()
    assert 'data-page-title="Slow water"' in fragment
    assert 'data-finished="true"' in fragment
    # a re-capture that fails keeps the title
    again = snapshot_request(link=Link.objects.get(pk=snapshot.link_id), enqueue=False)
    Snapshot.objects.filter(pk=again.pk).update(status=Snapshot.Status.FAILED)
    assert 'data-page-title="Slow water"' in client.get(status_url).content.decode()


def test_the_position_in_chinese(client, user, other_user):
    queued(other_user, "https://a.example/")
    mine = queued(user, "https://mine.example/")
    client.force_login(user)
    html = client.get(
        reverse("snapshots:link_detail", args=[mine.link_id]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert "前面还有 1 个抓取。" in html
