"""Saving links: normalization, per-user dedupe, tags, edits, bulk edits, deletion."""

import pytest

from snapshots.models import Link, Snapshot
from snapshots.normalize import LinkError, normalize_url, parse_tags
from snapshots.queries import LibraryFilters, library_links
from snapshots.services.links import link_create, link_delete, link_update, links_bulk_edit


@pytest.fixture(autouse=True)
def captures_queued_not_run(settings):
    """Captures are queued on a backend that never runs them: these tests fetch nothing."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://example.com/a", "https://example.com/a"),
        ("HTTPS://Example.COM/Path/", "https://example.com/Path/"),
        ("https://example.com", "https://example.com/"),
        ("example.com/page", "https://example.com/page"),
        ("//example.com/page", "https://example.com/page"),
        ("localhost:8000/x", "https://localhost:8000/x"),
        ("  https://example.com/  ", "https://example.com/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com/a?", "https://example.com/a"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?b=2&a=1"),
        (
            "https://example.com/a?utm_source=news&utm_medium=email&id=7&fbclid=XYZ",
            "https://example.com/a?id=7",
        ),
        ("https://example.com/?gclid=1&dclid=2&msclkid=3&yclid=4", "https://example.com/"),
        (
            "https://example.com/?mc_cid=1&mc_eid=2&igshid=3&_hsenc=4&_hsmi=5",
            "https://example.com/",
        ),
        ("https://example.com/?ref_src=twsrc&q=entropy", "https://example.com/?q=entropy"),
        ("https://example.com/?UTM_Campaign=x&page=2", "https://example.com/?page=2"),
        ("https://example.com/search?q=a+b&q=c", "https://example.com/search?q=a+b&q=c"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://例子.测试/路径", "https://xn--fsqu00a.xn--0zwm56d/%E8%B7%AF%E5%BE%84"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://[::1]:8080/a", "https://[::1]:8080/a"),
        ("https://user@example.com/a", "https://example.com/a"),  # credentials dropped (issue 10)
    ],
)
def test_normalize_url(given, expected):
    assert normalize_url(given) == expected


@pytest.mark.parametrize(
    ("given", "sentence"),
    [
        ("", "Enter a URL."),
        ("   ", "Enter a URL."),
        ("ftp://example.com/file", "Only http and https links can be saved, not ftp:."),
        ("javascript:alert(1)", "Only http and https links can be saved, not javascript:."),
        ("mailto:ada@example.com", "Only http and https links can be saved, not mailto:."),
        ("https://", "The URL has no host name, e.g. https://example.com/."),
        ("https:///path", "The URL has no host name, e.g. https://example.com/."),
        ("https://exa mple.com/", "A URL cannot contain spaces."),
        ("https://example.com:99999/", "The URL is not valid: Port out of range 0-65535."),
        ("https://" + "a" * 3000 + ".com/", "The URL is too long: at most 2048 characters."),
        ("https://ex_ample!.com/", "The address ex_ample!.com is not a valid host name."),
    ],
)
def test_bad_urls_raise_a_sentence(given, sentence):
    with pytest.raises(LinkError) as raised:
        normalize_url(given)
    assert raised.value.message == sentence


@pytest.mark.parametrize(
    ("typed", "names"),
    [
        ("a, b c", ["a", "b", "c"]),
        ("a,b", ["a", "b"]),
        ("机器学习，熵、交叉熵", ["机器学习", "熵", "交叉熵"]),
        ("Python python PYTHON", ["Python"]),
        ("#ml  , ,  #ML", ["ml"]),
        ("", []),
        (["a b", "c"], ["a", "b", "c"]),
    ],
)
def test_parse_tags_splits_on_commas_and_spaces_and_keeps_first_spelling(typed, names):
    assert parse_tags(typed) == names


def test_over_long_tag_is_refused():
    with pytest.raises(LinkError, match="at most 100 characters"):
        parse_tags("x" * 101)


@pytest.mark.django_db
def test_create_saves_the_normalized_url_and_queues_a_capture(user):
    link, created = link_create(
        owner=user,
        url="Example.com/post?utm_source=feed#top",
        tags=["ML", "熵"],
        title="  A post ",
        notes="*Why* it matters",
    )
    assert created
    assert link.url == link.normalized_url == "https://example.com/post"
    assert link.domain == "example.com"
    assert link.title == "A post"
    assert link.private is True
    assert sorted(link.tags.names()) == ["ML", "熵"]
    assert link.latest_snapshot is not None
    assert link.latest_snapshot.status == Snapshot.Status.PENDING


@pytest.mark.django_db
def test_urls_differing_only_by_tracking_parameters_are_one_link(user):
    first, created = link_create(owner=user, url="https://example.com/a?id=1", tags=["one"])
    twin, twin_created = link_create(
        owner=user, url="https://EXAMPLE.com:443/a?utm_medium=x&id=1&fbclid=abc#x", tags=["two"]
    )
    assert created
    assert not twin_created
    assert twin.pk == first.pk
    assert Link.objects.filter(owner=user).count() == 1
    assert sorted(twin.tags.names()) == ["one", "two"]
    # Saving again asks for a new capture of the same link.
    assert Snapshot.objects.filter(link=first).count() == 2


@pytest.mark.django_db
def test_the_same_url_is_a_separate_link_for_another_user(user, other_user):
    mine, _ = link_create(owner=user, url="https://example.com/")
    theirs, created = link_create(owner=other_user, url="https://example.com/")
    assert created
    assert mine.pk != theirs.pk


@pytest.mark.django_db
def test_create_without_capture_makes_no_snapshot(user):
    link, _ = link_create(owner=user, url="https://example.com/", capture=False)
    assert link.latest_snapshot is None
    assert not Snapshot.objects.exists()


@pytest.mark.django_db
def test_tags_are_shared_case_insensitively(user, other_user):
    link_create(owner=user, url="https://a.example/", tags=["Python"])
    theirs, _ = link_create(owner=other_user, url="https://b.example/", tags=["python"])
    assert list(theirs.tags.names()) == ["Python"]


@pytest.mark.django_db
def test_update_changes_fields_and_replaces_tags(user):
    link, _ = link_create(owner=user, url="https://example.com/", tags=["a", "b"])
    link_update(
        link=link,
        title="New",
        notes="n",
        private=False,
        unread=False,
        tags="b c",
        url="https://example.com/moved?utm_source=x",
    )
    link.refresh_from_db()
    assert (link.title, link.notes, link.private, link.unread) == ("New", "n", False, False)
    assert link.url == "https://example.com/moved"
    assert sorted(link.tags.names()) == ["b", "c"]


@pytest.mark.django_db
def test_update_to_the_url_of_another_link_is_refused(user):
    link_create(owner=user, url="https://example.com/one")
    two, _ = link_create(owner=user, url="https://example.com/two")
    with pytest.raises(LinkError, match="already saved this URL"):
        link_update(link=two, url="https://example.com/one#frag")


@pytest.mark.django_db
def test_update_refuses_unknown_fields(user):
    link, _ = link_create(owner=user, url="https://example.com/")
    with pytest.raises(LinkError, match="cannot be changed: owner"):
        link_update(link=link, owner=None)


@pytest.mark.django_db
def test_delete_removes_the_link_its_snapshots_and_its_search_entry(user):
    link, _ = link_create(owner=user, url="https://example.com/", title="Findable entropy")
    link_create(owner=user, url="https://example.com/")  # a second snapshot
    link_delete(link=link)
    assert not Link.objects.exists()
    assert not Snapshot.objects.exists()
    assert not library_links(user, LibraryFilters(q="Findable")).exists()


@pytest.mark.django_db
def test_bulk_edit_touches_only_the_owners_links(user, other_user):
    mine = [link_create(owner=user, url=f"https://example.com/{i}")[0] for i in range(3)]
    theirs, _ = link_create(owner=other_user, url="https://example.com/x", private=False)
    ids = [link.pk for link in mine] + [theirs.pk]

    assert links_bulk_edit(owner=user, link_ids=ids, action="add_tags", tags=["read-later"]) == 3
    assert all(list(link.tags.names()) == ["read-later"] for link in mine)
    assert list(theirs.tags.names()) == []

    assert links_bulk_edit(owner=user, link_ids=ids, action="make_public") == 3
    assert Link.objects.filter(owner=user, private=False).count() == 3
    assert links_bulk_edit(owner=user, link_ids=ids, action="mark_read") == 3
    assert not Link.objects.filter(owner=user, unread=True).exists()
    assert links_bulk_edit(owner=user, link_ids=ids, action="mark_unread") == 3
    assert links_bulk_edit(owner=user, link_ids=ids, action="make_private") == 3
    assert Link.objects.get(pk=theirs.pk).private is False

    assert links_bulk_edit(owner=user, link_ids=ids, action="remove_tags", tags="READ-LATER") == 3
    assert all(list(link.tags.names()) == [] for link in mine)

    before = Snapshot.objects.count()
    assert links_bulk_edit(owner=user, link_ids=ids, action="capture") == 3
    assert Snapshot.objects.count() == before + 3

    assert links_bulk_edit(owner=user, link_ids=ids, action="delete") == 3
    assert list(Link.objects.values_list("pk", flat=True)) == [theirs.pk]


@pytest.mark.django_db
def test_bulk_edit_refuses_unknown_actions_and_missing_tags(user):
    link, _ = link_create(owner=user, url="https://example.com/")
    with pytest.raises(LinkError, match="Unknown bulk action"):
        links_bulk_edit(owner=user, link_ids=[link.pk], action="explode")
    with pytest.raises(LinkError, match="at least one tag"):
        links_bulk_edit(owner=user, link_ids=[link.pk], action="add_tags", tags=" , ")
    assert links_bulk_edit(owner=user, link_ids=[], action="mark_read") == 0
