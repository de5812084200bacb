"""The number of queries a library listing makes does not grow with the number of links shown."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from snapshots.access import visible_links
from snapshots.choices import BulkAction
from snapshots.library_pages import library_count
from snapshots.models import Snapshot
from snapshots.queries import (
    LibraryFilters,
    library_links,
    link_excerpts,
    tag_counts,
)
from snapshots.search import reindex_links
from snapshots.services.links import link_create, link_update, links_bulk_edit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def captures_queued_not_run(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def add_links(owner, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        link, _ = link_create(
            owner=owner,
            url=f"https://example.com/{i}",
            title=f"Entropy note {i}",
            tags=["ml", f"t{i % 3}", "熵"],
        )
        # Two snapshots each, the latest one captured with text.
        Snapshot.objects.create(
            link=link,
            status=Snapshot.Status.SUCCEEDED,
            text=f"交叉熵 text {i}",
            finished=timezone.now(),
        )
    reindex_links(Snapshot.objects.values_list("link_id", flat=True))


def count_queries(action) -> int:
    action()  # warm-up: per-process caches (content types, token checks) are not per link
    with CaptureQueriesContext(connection) as captured:
        action()
    return len(captured.captured_queries)


def render_page(user, filters):
    links = library_links(user, filters)
    page = list(links[:50])
    for link in page:
        # Everything a library row shows.
        _ = (link.display_title, link.domain, link.owner.username, link.tag_names)
        _ = link.latest_snapshot.status if link.latest_snapshot else None
    links.count()
    list(tag_counts(visible_links(user))[:40])
    if filters.q:
        link_excerpts(page, filters.q)


@pytest.mark.parametrize(
    "filters",
    [
        LibraryFilters(),
        LibraryFilters(tags=["ml", "t1"]),
        LibraryFilters(q="交叉熵 text", sort="title"),
        LibraryFilters(q="熵", state="pending", domain="example.com"),
    ],
    ids=["all", "two-tags", "search", "short-search-and-filters"],
)
def test_library_links_and_tag_counts_make_the_same_queries_for_5_or_25_links(user, filters):
    add_links(user, 5)
    small = count_queries(lambda: render_page(user, filters))
    add_links(user, 20, start=5)
    large = count_queries(lambda: render_page(user, filters))
    assert small == large


@pytest.mark.parametrize(
    "query", ["", "?tag=ml&tag=t1", "?q=entropy", "?q=熵&sort=title&per_page=100"]
)
def test_api_list_makes_the_same_queries_for_5_or_25_links(user, api_token, query):
    client = Client(headers={"Authorization": f"Bearer {api_token}"})
    add_links(user, 5)
    # both measured after a warm-up (the exact count is then remembered)
    assert client.get(f"/api/links{query}").status_code == 200
    small = count_queries(lambda: client.get(f"/api/links{query}"))
    add_links(user, 20, start=5)
    assert client.get(f"/api/links{query}").status_code == 200
    assert count_queries(lambda: client.get(f"/api/links{query}")) == small


def test_api_tags_makes_the_same_queries_for_5_or_25_links(user, api_token):
    client = Client(headers={"Authorization": f"Bearer {api_token}"})
    add_links(user, 5)
    small = count_queries(lambda: client.get("/api/tags"))
    add_links(user, 20, start=5)
    assert count_queries(lambda: client.get("/api/tags")) == small


def test_library_count_is_remembered_until_a_link_or_tag_changes(user):
    add_links(user, 3)
    filters = LibraryFilters(tags=["ml"])
    assert library_count(library_links(user, filters), filters) == 3
    with CaptureQueriesContext(connection) as captured:
        assert library_count(library_links(user, filters), filters) == 3
    assert not any("COUNT(" in q["sql"].upper() for q in captured.captured_queries)

    add_links(user, 1, start=3)
    assert library_count(library_links(user, filters), filters) == 4
    link = library_links(user, filters).first()
    link.tags.remove("ml")
    assert library_count(library_links(user, filters), filters) == 3


def test_search_count_is_remembered_until_the_search_index_changes(user):
    add_links(user, 2)
    filters = LibraryFilters(q="zebra")
    assert library_count(library_links(user, filters), filters) == 0
    with CaptureQueriesContext(connection) as captured:
        assert library_count(library_links(user, filters), filters) == 0
    assert not any("COUNT(" in q["sql"].upper() for q in captured.captured_queries)

    # A capture rewrites the link's search document without touching links or tags.
    link = visible_links(user).first()
    Snapshot.objects.create(
        link=link, status=Snapshot.Status.SUCCEEDED, text="a zebra", finished=timezone.now()
    )
    reindex_links([link.pk])
    assert library_count(library_links(user, filters), filters) == 1


@pytest.mark.parametrize(
    ("unread", "read"),
    [
        (LibraryFilters(unread=True), LibraryFilters(unread=False)),
        (LibraryFilters(q="is:unread"), LibraryFilters(q="is:read")),
        (LibraryFilters(q="entropy is:unread"), LibraryFilters(q="-is:unread entropy")),
    ],
)
def test_unread_counts_are_remembered_and_follow_every_change_of_read_state(user, unread, read):
    # `unread` writes a new revision token however it is saved, so its counts can be remembered.
    add_links(user, 3)

    def counts():
        return [library_count(library_links(user, f), f) for f in (unread, read)]

    assert counts() == [3, 0]
    with CaptureQueriesContext(connection) as captured:
        assert counts() == [3, 0]
    assert not any("COUNT(" in q["sql"].upper() for q in captured.captured_queries)

    first, second, third = visible_links(user).order_by("pk")
    link_update(link=first, unread=False)
    assert counts() == [2, 1]
    links_bulk_edit(owner=user, link_ids=[second.pk], action=BulkAction.MARK_READ)
    assert counts() == [1, 2]
    third.unread = False
    third.save(update_fields=["unread"])
    assert counts() == [0, 3]


def test_library_page_shows_the_same_total_on_every_page(client, user):
    add_links(user, 60)
    client.force_login(user)
    for page in (1, 2):
        response = client.get("/tags/ml/", {"page": page})
        assert response.status_code == 200
        assert response.context["page"].paginator.count == 60
