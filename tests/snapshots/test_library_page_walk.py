"""A library page found by walking the links in order (library_page) is exactly the full query's slice.

The walk checks tags and search for a window of links and falls back to the indexes when the window
holds too few matches; whichever way a page is found, it must show the same links in the same order.
"""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from snapshots import library_pages
from snapshots.library_pages import library_page
from snapshots.models import Link, Snapshot
from snapshots.queries import LibraryFilters, library_links
from snapshots.search import reindex_links
from snapshots.services.links import link_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def captures_queued_not_run(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def library(user, other_user):
    """40 links of two people: tags and words from common to rare, equal dates to test ties."""
    now = timezone.now()
    ids = []
    for i in range(40):
        tags = ["common"] if i % 4 else []
        tags += ["half"] if i % 2 else []
        tags += ["Rare"] if i in (7, 31) else []
        link, _ = link_create(
            owner=user if i % 5 else other_user,
            url=f"https://site{i % 3}.example/{i}",
            title=f"Note {i}" if i % 6 else "",
            tags=tags,
            private=i % 3 == 0,
            capture=False,
        )
        words = ("entropy " if i % 5 < 3 else "") + ("perplexity " if i in (3, 36) else "")
        snapshot = Snapshot.objects.create(
            link=link,
            status=Snapshot.Status.SUCCEEDED,
            title=f"Captured {i}",
            text=f"{words}交叉熵 text {i}" if i % 2 else f"{words}plain text {i}",
        )
        # pairs of links share a timestamp: the order must still be total (id breaks the tie)
        Link.objects.filter(pk=link.pk).update(
            latest_snapshot=snapshot, created=now - timedelta(minutes=i // 2)
        )
        ids.append(link.pk)
    reindex_links(ids)
    return user


FILTERS = [
    LibraryFilters(tags=["common"]),
    LibraryFilters(tags=["common", "half"]),
    LibraryFilters(tags=["rare"]),  # case-insensitive, and rare: the walk falls back
    LibraryFilters(tags=["common", "nosuchtag"]),
    LibraryFilters(q="entropy"),
    LibraryFilters(q="entropy 交叉熵"),
    LibraryFilters(q="perplexity"),
    LibraryFilters(q="熵", tags=["half"]),
    LibraryFilters(q="entropy", tags=["common"], domain="site1.example"),
    LibraryFilters(tags=["half"], sort="title"),
    LibraryFilters(tags=["common"], sort="created"),
    LibraryFilters(q="text", sort="-title", visibility="public"),
    # clauses on the link's own columns are walked with; tags typed in the search
    LibraryFilters(q="site:site1.example entropy"),
    LibraryFilters(q="is:private -entropy"),
    LibraryFilters(q="#common -#half"),
    LibraryFilters(q="#rare OR perplexity"),
    LibraryFilters(q='after:2000-01-01 "plain text"'),
]


def expected(user, filters, start, stop):
    return list(library_links(user, filters).values_list("pk", flat=True)[start:stop])


@pytest.mark.parametrize(("first", "most"), [(4, 5000), (1, 3)], ids=["usual", "small-windows"])
@pytest.mark.parametrize("signed_in", [True, False], ids=["owner", "anonymous"])
def test_every_page_equals_the_full_querys_slice(library, monkeypatch, first, most, signed_in):
    monkeypatch.setattr(library_pages, "WALK_FIRST_WINDOW", first)
    monkeypatch.setattr(library_pages, "WALK_MAX_LINKS", most)
    user = library if signed_in else None
    for filters, (start, stop) in itertools.product(FILTERS, [(0, 5), (5, 10), (0, 50), (30, 40)]):
        shown = [link.pk for link in library_page(user, filters, start, stop)]
        assert shown == expected(user, filters, start, stop), (filters, start, stop)


@pytest.mark.parametrize(("first", "most"), [(4, 5000), (1, 3)], ids=["usual", "small-windows"])
def test_a_known_count_picks_the_walk_or_the_indexes_and_the_page_is_the_same(
    library, monkeypatch, first, most
):
    """With the count known, common matches are walked with a window sized by their share and
    rare ones go straight to the indexes; either way the page is the full query's slice."""
    monkeypatch.setattr(library_pages, "WALK_FIRST_WINDOW", first)
    monkeypatch.setattr(library_pages, "WALK_MAX_LINKS", most)
    for filters, (start, stop) in itertools.product(FILTERS, [(0, 5), (5, 10), (0, 50)]):
        matches = library_links(library, filters).count()
        shown = [link.pk for link in library_page(library, filters, start, stop, matches=matches)]
        assert shown == expected(library, filters, start, stop), (filters, start, stop)


def test_a_page_comes_with_its_row_details_in_a_fixed_number_of_queries(
    library, django_assert_max_num_queries
):
    filters = LibraryFilters(tags=["common", "half"], q="entropy")
    page = library_page(library, filters, 0, 5)
    assert page
    with django_assert_max_num_queries(0):
        for link in page:
            _ = (link.latest_snapshot.title, link.owner.username, link.tag_names)


# Searches whose count the indexes answer on both databases (the search and tag indexes).
COUNTED_BY_INDEX = {
    "entropy",
    "熵",
    "nosuchword",
    "t",
    "entropy OR perplexity",
    "entropy -perplexity",
    "#common entropy",
    "#common",
    "#COMMON -#half",
    "#rare OR perplexity",
    "#nosuchtag",
    "#common -#nosuchtag entropy",
}


@pytest.mark.parametrize("viewer", ["owner", "other", "anonymous"])
@pytest.mark.parametrize(
    "q",
    ["entropy", "entropy 交叉熵", "perplexity", "熵", "交叉熵", "entropy -perplexity", "-entropy",
     "text -交叉熵", "nosuchword", "t", "entropy OR perplexity", "#common entropy", "#common",
     "#COMMON -#half", "#rare OR perplexity", "#nosuchtag", "-#common", "#common -#nosuchtag entropy",
     "#common site:site1.example"],
)  # fmt: skip
def test_the_count_shown_is_the_number_of_links_listed(library, other_user, viewer, q):
    """A search's count may come from the indexes (all matches less those this person may not
    see): it is always the number of links the list holds."""
    user = {"owner": library, "other": other_user, "anonymous": None}[viewer]
    filters = LibraryFilters(q=q)
    listed = library_links(user, filters).count()
    assert library_pages.library_count_and_page(user, filters, 0, 5)[0] == listed
    from_index = library_pages._count_by_index(user, filters.cleaned(), "default")
    assert from_index in (None, listed)
    if q in COUNTED_BY_INDEX:
        assert from_index == listed  # counted by the index, not the library's query


@pytest.mark.parametrize("viewer", ["owner", "anonymous"])
@pytest.mark.parametrize("tags", [["common"], ["common", "half"], ["Rare"], ["nosuchtag"]])
def test_tags_picked_in_the_sidebar_are_counted_by_the_tag_index(library, viewer, tags):
    user = library if viewer == "owner" else None
    for filters in (LibraryFilters(tags=tags), LibraryFilters(tags=tags, q="entropy")):
        listed = library_links(user, filters).count()
        assert library_pages._count_by_index(user, filters.cleaned(), "default") == listed
        assert library_pages.library_count_and_page(user, filters, 0, 5)[0] == listed


def test_a_link_carrying_a_tag_in_two_spellings_is_counted_once(library):
    from taggit.models import Tag

    link = Link.objects.filter(owner=library).first()
    link.tags.add(Tag.objects.create(name="COMMON", slug="common-upper"))
    filters = LibraryFilters(q="#common")
    listed = library_links(library, filters).count()
    assert library_pages._count_by_index(library, filters.cleaned(), "default") == listed


@pytest.mark.parametrize("viewer", ["owner", "other", "anonymous"])
@pytest.mark.parametrize(
    "q",
    ["is:unread entropy", "is:read entropy", "is:private entropy", "is:public 交叉熵",
     "-is:private entropy", "-is:public entropy", "-is:read #common", "is:read",
     "after:2000-01-01 entropy", "before:2000-01-01 entropy", "before:2100-01-01 entropy -perplexity",
     "after:2000-01-01 before:2100-01-01 #half", "-after:2000-01-01 entropy",
     "is:unread is:public entropy OR perplexity"],
)  # fmt: skip
def test_dates_and_states_are_counted_by_the_indexes(library, other_user, viewer, q):
    """A date or a read or private state with the search: counted from the link's own indexes,
    and still the number of links the list holds."""
    # some links read: the fixture's are all unread
    Link.objects.filter(
        pk__in=list(Link.objects.order_by("pk").values_list("pk", flat=True))[::3]
    ).update(unread=False)
    user = {"owner": library, "other": other_user, "anonymous": None}[viewer]
    filters = LibraryFilters(q=q)
    listed = library_links(user, filters).count()
    assert library_pages._count_by_index(user, filters.cleaned(), "default") == listed
    assert library_pages.library_count_and_page(user, filters, 0, 5)[0] == listed


@pytest.mark.parametrize("viewer", ["owner", "anonymous"])
@pytest.mark.parametrize(
    ("unread", "visibility"), [(True, ""), (False, ""), (None, "private"), (False, "public")]
)
def test_the_sidebars_read_and_private_filters_are_counted_by_the_indexes(
    library, viewer, unread, visibility
):
    Link.objects.filter(
        pk__in=list(Link.objects.order_by("pk").values_list("pk", flat=True))[::4]
    ).update(unread=False)
    user = library if viewer == "owner" else None
    for q in ("entropy", "#common", "entropy -perplexity", "熵"):
        filters = LibraryFilters(q=q, unread=unread, visibility=visibility)
        listed = library_links(user, filters).count()
        assert library_pages._count_by_index(user, filters.cleaned(), "default") == listed, q
        assert library_pages.library_count_and_page(user, filters, 0, 5)[0] == listed, q


@pytest.mark.parametrize("viewer", ["owner", "other", "anonymous"])
@pytest.mark.parametrize(
    "q",
    ["entropy", "is:unread entropy", "before:2100-01-01 #half", "-is:read after:2000-01-01 熵",
     "is:public entropy", "-is:private -after:2100-01-01 perplexity"],
)  # fmt: skip
def test_the_walk_counts_the_links_it_walks_from_the_indexes(library, other_user, viewer, q):
    """The walk sizes its windows by the share of the links walked that match; the links walked
    (those of the dates and states typed) are counted from the indexes, exactly."""
    Link.objects.filter(
        pk__in=list(Link.objects.order_by("pk").values_list("pk", flat=True))[::3]
    ).update(unread=False)
    user = {"owner": library, "other": other_user, "anonymous": None}[viewer]
    filters = LibraryFilters(q=q).cleaned()
    walked, _rest = library_pages._walk_base(user, filters)
    matches = library_links(user, filters).count()
    share = library_pages._share_of_matches(user, filters, matches)
    assert share == (matches / walked.count() if walked.count() else 0.0)
    assert library_pages.library_page(user, filters, 0, 5, matches=matches) == list(
        library_links(user, filters)[:5]
    )
