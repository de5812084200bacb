"""The library and tag pages cost the same number of queries whether they show 5 links or 25."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from snapshots.models import Link, Snapshot
from snapshots.search import reindex_links
from snapshots.services.links import link_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _captures_stay_queued(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def seed(owner, other, count: int, start: int = 0) -> None:
    """Links of two people, each with its own tags and a captured snapshot; a third of them public."""
    ids = []
    for number in range(start, start + count):
        link, _ = link_create(
            owner=owner if number % 2 else other,
            url=f"https://site{number % 4}.example/page/{number}",
            tags=[f"topic{number}", "shared"],
            title=f"Page {number} about entropy",
            private=number % 3 != 0,
            capture=False,
        )
        snapshot = Snapshot.objects.create(
            link=link, status=Snapshot.Status.SUCCEEDED, text=f"Entropy text {number}.", size=1000
        )
        Link.objects.filter(pk=link.pk).update(latest_snapshot=snapshot)
        ids.append(link.pk)
    reindex_links(ids)


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    return len(context.captured_queries)


PAGES = [
    reverse("snapshots:library"),
    reverse("snapshots:library") + "?tag=shared&sort=title",
    reverse("snapshots:library") + "?q=entropy",
    reverse("snapshots:tags"),
    reverse("snapshots:tag_detail", args=["shared"]),
    reverse("home"),
]


@pytest.mark.parametrize("signed_in", [True, False], ids=["owner", "anonymous"])
def test_query_count_does_not_grow_with_the_links_shown(client, user, other_user, signed_in):
    if signed_in:
        client.force_login(user)
    seed(user, other_user, 5)
    few = {url: queries_for(client, url) for url in PAGES}
    seed(user, other_user, 25, start=5)  # 30 links now; a page shows up to 50 of them
    many = {url: queries_for(client, url) for url in PAGES}
    assert many == few
