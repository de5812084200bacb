"""The library pages: add, browse, filter, bulk edit, tags, link page, compare, import and export.

Captures are not run here (the dummy task backend keeps them queued): these tests are about the pages
and who may do what on them.
"""

import io
import re
import zipfile
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from snapshots.models import Link, Snapshot
from snapshots.search import reindex_link
from snapshots.services.links import link_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _captures_stay_queued(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def ada(client, user):
    client.force_login(user)
    return client


def save(owner, url, *, tags=(), title="", notes="", private=True, **fields):
    link, _created = link_create(
        owner=owner, url=url, tags=tags, title=title, notes=notes, private=private, capture=False
    )
    if fields:
        Link.objects.filter(pk=link.pk).update(**fields)
        link.refresh_from_db()
    return link


def captured(link, text, **fields):
    snapshot = Snapshot.objects.create(
        link=link, status=Snapshot.Status.SUCCEEDED, text=text, http_status=200, **fields
    )
    Link.objects.filter(pk=link.pk).update(latest_snapshot=snapshot)
    reindex_link(link.pk)
    return snapshot


def titles(response) -> list[str]:
    page = response.content.decode()
    return re.findall(r'<h2 class="link-row__title"><a href="[^"]+">([^<]+)</a>', page)


# --- adding a link ----------------------------------------------------------------------------


def test_add_page_asks_anonymous_visitors_to_sign_in(client, user):
    response = client.get(reverse("snapshots:link_add"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_add_page_is_prefilled_by_the_bookmarklet_and_offers_it(ada, user):
    save(user, "https://example.org/a", tags=["python"])
    response = ada.get(
        reverse("snapshots:link_add"), {"url": "https://example.com/post", "title": "A post"}
    )
    page = response.content.decode()
    assert 'value="https://example.com/post"' in page
    assert 'value="A post"' in page
    assert "javascript:(function(){location.href=" in page
    assert "Save to kb" in page
    assert '<option value="python">' in page  # the user's tags, for autocomplete


def test_add_page_takes_tags_from_a_concept_page_link(ada):
    response = ada.get(reverse("snapshots:link_add"), {"tags": "cross-entropy"})
    assert 'value="cross-entropy"' in response.content.decode()


def test_adding_a_bad_url_shows_the_reason_and_saves_nothing(ada):
    response = ada.post(reverse("snapshots:link_add"), {"url": "ftp://example.com/file"})
    assert response.status_code == 200
    assert "Only http and https links can be saved, not ftp:." in response.content.decode()
    assert not Link.objects.exists()


def test_adding_a_link_saves_it_queues_a_capture_and_opens_its_page(ada, user):
    response = ada.post(
        reverse("snapshots:link_add"),
        {
            "url": "https://Example.com/article?utm_source=feed",
            "tags": "python, ml",
            "title": "",
            "notes": "Read **later**",
            "private": "on",
        },
    )
    link = Link.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("snapshots:link_detail", args=[link.pk])
    assert link.url == "https://example.com/article"
    assert link.owner == user
    assert link.private
    assert sorted(link.tags.names()) == ["ml", "python"]
    assert link.snapshots.get().status == Snapshot.Status.PENDING
    page = ada.get(response["Location"]).content.decode()
    assert "Queued for capture" in page
    assert "<strong>later</strong>" in page


def test_saving_a_url_again_opens_the_saved_link_and_queues_a_new_capture(ada, user):
    first = save(user, "https://example.com/article")
    Snapshot.objects.create(link=first, status=Snapshot.Status.SUCCEEDED)
    response = ada.post(
        reverse("snapshots:link_add"),
        {"url": "https://example.com/article?utm_campaign=x&fbclid=abc#top", "tags": ""},
        follow=True,
    )
    assert Link.objects.count() == 1
    assert response.redirect_chain[-1][0] == reverse("snapshots:link_detail", args=[first.pk])
    page = response.content.decode()
    assert "You saved this link on" in page
    assert "a new capture was queued" in page
    assert first.snapshots.count() == 2


def test_a_public_link_can_be_added(ada):
    ada.post(reverse("snapshots:link_add"), {"url": "https://example.com/open"})
    assert not Link.objects.get().private


# --- the library: who sees what, filters, sort, pages ---------------------------------------


def test_library_shows_own_links_and_others_public_ones(ada, user, other_user):
    save(user, "https://a.example/mine", title="Mine, private")
    save(other_user, "https://b.example/shared", title="Grace public", private=False)
    save(other_user, "https://b.example/secret", title="Grace private")
    assert sorted(titles(ada.get("/links/"))) == ["Grace public", "Mine, private"]


def test_anonymous_visitors_see_public_links_only(client, user, other_user):
    save(user, "https://a.example/mine", title="Ada private")
    save(user, "https://a.example/open", title="Ada public", private=False)
    save(other_user, "https://b.example/secret", title="Grace private")
    response = client.get("/links/")
    assert titles(response) == ["Ada public"]
    assert 'name="link"' not in response.content.decode()  # no bulk edit for visitors


def test_library_is_newest_first_and_paginated(ada, user):
    for number in range(55):
        save(user, f"https://example.com/{number}", title=f"Link {number:02d}")
    first = ada.get("/links/")
    assert titles(first)[:2] == ["Link 54", "Link 53"]
    assert len(titles(first)) == 50
    assert "55 links" in first.content.decode()
    second = ada.get("/links/", {"page": 2})
    assert titles(second) == ["Link 04", "Link 03", "Link 02", "Link 01", "Link 00"]
    assert titles(ada.get("/links/", {"page": "nonsense"})) == titles(first)
    assert "Older →" in first.content.decode()
    assert "← Newer" in second.content.decode()
    # "older" means nothing in an A–Z list: the links say previous and next there
    by_title = ada.get("/links/", {"sort": "title", "page": 2}).content.decode()
    assert "← Previous" in by_title
    assert "Older" not in by_title
    assert "Newer" not in by_title
    assert "Next →" in ada.get("/links/", {"sort": "title"}).content.decode()


def test_several_tags_must_all_match(ada, user):
    save(user, "https://example.com/1", title="Both", tags=["python", "ml"])
    save(user, "https://example.com/2", title="Only python", tags=["python"])
    save(user, "https://example.com/3", title="Only ml", tags=["ml"])
    assert titles(ada.get("/links/?tag=python&tag=ml")) == ["Both"]
    assert sorted(titles(ada.get("/links/?tag=python"))) == ["Both", "Only python"]


def test_filters_combine(ada, user):
    a = save(user, "https://docs.example/a", title="Docs read", tags=["ref"], unread=False)
    save(user, "https://docs.example/b", title="Docs unread", tags=["ref"])
    save(user, "https://blog.example/c", title="Blog read", tags=["ref"], unread=False)
    save(user, "https://docs.example/d", title="Docs public", tags=["ref"], private=False)
    captured(a, "text")
    assert titles(ada.get("/links/?tag=ref&domain=docs.example&unread=0")) == ["Docs read"]
    assert titles(ada.get("/links/?domain=docs.example&visibility=public")) == ["Docs public"]
    assert titles(ada.get("/links/?domain=docs.example&state=succeeded")) == ["Docs read"]
    assert sorted(titles(ada.get("/links/?domain=docs.example&unread=1"))) == [
        "Docs public",
        "Docs unread",
    ]


def test_bad_filter_values_are_ignored_not_an_error(ada, user):
    save(user, "https://example.com/1", title="One")
    response = ada.get("/links/?state=nonsense&sort=hack&visibility=x&unread=maybe&page=-3")
    assert response.status_code == 200
    assert titles(response) == ["One"]


def test_sort_by_title_and_domain(ada, user):
    save(user, "https://b.example/1", title="banana")
    save(user, "https://c.example/2", title="Apple")
    save(user, "https://a.example/3", title="cherry")
    assert titles(ada.get("/links/?sort=title")) == ["Apple", "banana", "cherry"]
    assert titles(ada.get("/links/?sort=-title")) == ["cherry", "banana", "Apple"]
    assert titles(ada.get("/links/?sort=domain")) == ["cherry", "banana", "Apple"]
    assert titles(ada.get("/links/?sort=created")) == ["banana", "Apple", "cherry"]


def test_search_finds_page_text_and_highlights_the_match(ada, user):
    link = save(user, "https://example.com/entropy", title="A post")
    captured(link, "Cross-entropy measures the difference between two distributions.")
    save(user, "https://example.com/other", title="Unrelated")
    response = ada.get("/links/", {"q": "difference"})
    assert titles(response) == ["A post"]
    assert "<mark>difference</mark>" in response.content.decode()


def test_active_filters_show_as_chips_that_remove_one_filter(ada, user):
    save(user, "https://example.com/1", title="One", tags=["a", "b"])
    page = ada.get("/links/?tag=a&tag=b&domain=example.com").content.decode()
    assert "Tag: a" in page
    assert "Domain: example.com" in page
    assert 'href="?tag=b&amp;domain=example.com"' in page  # the chip that removes tag a
    assert 'href="?tag=a&amp;tag=b"' in page  # the chip that removes the domain


def test_empty_library_says_what_to_do_next(ada, client):
    assert "Add your first link" in ada.get("/links/").content.decode()
    assert "No links match these filters." in ada.get("/links/?tag=none").content.decode()


def test_tag_page_shows_public_links_with_that_tag_to_anonymous_visitors(client, user):
    save(user, "https://example.com/1", title="Public ML", tags=["ml"], private=False)
    save(user, "https://example.com/2", title="Private ML", tags=["ml"])
    save(user, "https://example.com/3", title="Public other", tags=["other"], private=False)
    response = client.get(reverse("snapshots:tag_detail", args=["ml"]))
    assert titles(response) == ["Public ML"]
    assert "Links tagged “ml”" in response.content.decode()
    assert 'type="application/atom+xml" href="/feeds/tags/ml/"' in response.content.decode()
    assert client.get(reverse("snapshots:tag_detail", args=["nope"])).status_code == 404


# --- bulk edit --------------------------------------------------------------------------------


def test_bulk_add_tags_changes_only_the_users_own_links(ada, user, other_user):
    mine = [save(user, f"https://example.com/{n}") for n in range(3)]
    theirs = save(other_user, "https://example.com/grace", private=False)
    response = ada.post(
        reverse("snapshots:links_bulk"),
        {
            "link": [link.pk for link in [*mine, theirs]],
            "action": "add_tags",
            "tags": "later",
            "next": "/links/?sort=title",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/links/?sort=title"
    assert "Add tags: 3 links." in response.content.decode()
    for link in mine:
        assert list(link.tags.names()) == ["later"]
    assert list(theirs.tags.names()) == []


@pytest.mark.parametrize(
    ("action", "check"),
    [
        ("mark_read", lambda link: link.unread is False),
        ("make_public", lambda link: link.private is False),
        ("capture", lambda link: link.snapshots.count() == 1),
    ],
)
def test_bulk_actions(ada, user, action, check):
    links = [save(user, f"https://example.com/{n}") for n in range(2)]
    ada.post(reverse("snapshots:links_bulk"), {"link": [x.pk for x in links], "action": action})
    for link in links:
        link.refresh_from_db()
        assert check(link)


def test_bulk_delete_and_remove_tags(ada, user):
    keep = save(user, "https://example.com/keep", tags=["a", "b"])
    drop = save(user, "https://example.com/drop")
    ada.post(reverse("snapshots:links_bulk"), {"link": [drop.pk], "action": "delete"})
    assert list(Link.objects.all()) == [keep]
    ada.post(
        reverse("snapshots:links_bulk"),
        {"link": [keep.pk], "action": "remove_tags", "tags": "a"},
    )
    assert list(keep.tags.names()) == ["b"]


def test_bulk_edit_without_a_selection_or_tags_says_so(ada, user):
    link = save(user, "https://example.com/1")
    response = ada.post(reverse("snapshots:links_bulk"), {"action": "mark_read"}, follow=True)
    assert "Select at least one link." in response.content.decode()
    response = ada.post(
        reverse("snapshots:links_bulk"), {"link": [link.pk], "action": "add_tags"}, follow=True
    )
    assert "Type the tags to add or remove." in response.content.decode()


def test_bulk_edit_never_redirects_to_another_site(ada, user):
    link = save(user, "https://example.com/1")
    response = ada.post(
        reverse("snapshots:links_bulk"),
        {"link": [link.pk], "action": "mark_read", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("snapshots:library")


def test_bulk_edit_needs_sign_in(client, user):
    link = save(user, "https://example.com/1")
    response = client.post(reverse("snapshots:links_bulk"), {"link": [link.pk], "action": "delete"})
    assert response.status_code == 302
    assert Link.objects.filter(pk=link.pk).exists()


# --- CSRF: every write refuses a request without the token --------------------------------------


@pytest.fixture
def strict(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_writes_without_a_csrf_token_are_refused(strict, user):
    link = save(user, "https://example.com/1", tags=["a"])
    writes = [
        (reverse("snapshots:link_add"), {"url": "https://example.com/new"}),
        (reverse("snapshots:links_bulk"), {"link": [link.pk], "action": "delete"}),
        (reverse("snapshots:link_edit", args=[link.pk]), {"title": "Changed"}),
        (reverse("snapshots:link_delete", args=[link.pk]), {}),
        (reverse("snapshots:link_capture", args=[link.pk]), {}),
        (reverse("snapshots:tag_rename"), {"old": "a", "new": "b"}),
        (reverse("snapshots:tag_merge"), {"sources": ["a"], "target": "b"}),
        (reverse("snapshots:tag_delete"), {"name": "a"}),
        (reverse("snapshots:links_import"), {}),
    ]
    for url, data in writes:
        assert strict.post(url, data).status_code == 403, url
    link.refresh_from_db()
    assert link.title == ""
    assert list(link.tags.names()) == ["a"]
    assert Link.objects.count() == 1
    assert not link.snapshots.exists()


def test_a_write_with_the_csrf_token_from_the_page_works(strict):
    page = strict.get(reverse("snapshots:link_add")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = strict.post(
        reverse("snapshots:link_add"),
        {"url": "https://example.com/new", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert Link.objects.count() == 1


# --- the link page ----------------------------------------------------------------------------


def test_link_page_shows_metadata_history_and_actions_to_its_owner(ada, user):
    link = save(user, "https://example.com/post", title="My title", tags=["python"])
    old = captured(link, "old text", size=2048, title="Page title", author="Ada L.")
    Snapshot.objects.filter(pk=old.pk).update(published="2024-05-01", published_is_guess=True)
    Snapshot.objects.create(
        link=link,
        status=Snapshot.Status.FAILED,
        error="The server answered 503 Service Unavailable.",
    )
    page = ada.get(reverse("snapshots:link_detail", args=[link.pk])).content.decode()
    assert "My title" in page
    assert "Ada L." in page
    assert "guess" in page
    assert "The server answered 503 Service Unavailable." in page
    assert "2.0\xa0KB" in page
    assert "HTTP 200" in page
    assert "Capture again" in page
    assert reverse("snapshots:link_edit", args=[link.pk]) in page


def test_notes_are_rendered_as_markdown_and_sanitized(ada, user):
    link = save(
        user,
        "https://example.com/x",
        notes="**bold** <script>alert('x')</script> [a](javascript:alert(1))",
    )
    page = ada.get(reverse("snapshots:link_detail", args=[link.pk])).content.decode()
    assert "<strong>bold</strong>" in page
    assert "<script>alert" not in page
    assert "javascript:alert" not in page


def test_others_private_link_is_not_found_and_public_one_is_read_only(ada, client, other_user):
    secret = save(other_user, "https://example.com/secret")
    shared = save(other_user, "https://example.com/shared", private=False, title="Shared")
    assert ada.get(reverse("snapshots:link_detail", args=[secret.pk])).status_code == 404
    assert client.get(reverse("snapshots:link_detail", args=[secret.pk])).status_code == 404
    page = ada.get(reverse("snapshots:link_detail", args=[shared.pk])).content.decode()
    assert "Shared" in page
    assert "shared by grace" in page
    assert "Capture again" not in page
    assert client.get(reverse("snapshots:link_detail", args=[shared.pk])).status_code == 200


def test_others_links_cannot_be_edited_deleted_or_captured(ada, other_user):
    shared = save(other_user, "https://example.com/shared", private=False)
    for name in ("link_edit", "link_delete"):
        assert ada.get(reverse(f"snapshots:{name}", args=[shared.pk])).status_code == 404
    for name in ("link_edit", "link_delete", "link_capture"):
        assert ada.post(reverse(f"snapshots:{name}", args=[shared.pk])).status_code == 404
    assert Link.objects.filter(pk=shared.pk).exists()
    assert not shared.snapshots.exists()


def test_capture_again_queues_a_new_snapshot(ada, user):
    link = save(user, "https://example.com/1")
    assert ada.get(reverse("snapshots:link_capture", args=[link.pk])).status_code == 405
    response = ada.post(reverse("snapshots:link_capture", args=[link.pk]), follow=True)
    assert "A new capture was queued." in response.content.decode()
    assert link.snapshots.get().status == Snapshot.Status.PENDING


def test_capture_status_fragment_says_whether_to_keep_polling(ada, user, client):
    link = save(user, "https://example.com/1", private=False)
    snapshot = Snapshot.objects.create(link=link)
    url = reverse("snapshots:link_capture_status", args=[link.pk])
    fragment = ada.get(url).content.decode()
    assert fragment.lstrip().startswith('<div class="capture-history"')
    assert 'data-finished="false"' in fragment
    assert "Queued for capture" in fragment
    Snapshot.objects.filter(pk=snapshot.pk).update(status=Snapshot.Status.SUCCEEDED)
    fragment = client.get(url).content.decode()
    assert 'data-finished="true"' in fragment
    assert "captured" in fragment


def test_link_page_marks_the_link_read_and_unread(ada, user):
    link = save(user, "https://example.com/1")
    page = ada.get(reverse("snapshots:link_detail", args=[link.pk])).content.decode()
    assert 'value="mark_read"' in page
    response = ada.post(
        reverse("snapshots:links_bulk"),
        {"link": [link.pk], "action": "mark_read", "next": f"/links/{link.pk}/"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"/links/{link.pk}/"
    assert 'value="mark_unread"' in response.content.decode()
    link.refresh_from_db()
    assert not link.unread


def test_edit_changes_title_tags_notes_and_visibility(ada, user):
    link = save(user, "https://example.com/1", tags=["old"])
    page = ada.get(reverse("snapshots:link_edit", args=[link.pk])).content.decode()
    assert 'value="old"' in page
    response = ada.post(
        reverse("snapshots:link_edit", args=[link.pk]),
        {"title": "New title", "tags": "new other", "notes": "hi", "unread": ""},
    )
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.title == "New title"
    assert sorted(link.tags.names()) == ["new", "other"]
    assert not link.private
    assert not link.unread


def test_delete_asks_first_then_deletes_with_snapshots(ada, user):
    link = save(user, "https://example.com/1")
    captured(link, "text")
    page = ada.get(reverse("snapshots:link_delete", args=[link.pk])).content.decode()
    assert "Delete this link?" in page
    response = ada.post(reverse("snapshots:link_delete", args=[link.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("snapshots:library")
    assert not Link.objects.exists()
    assert not Snapshot.objects.exists()


# --- compare ----------------------------------------------------------------------------------


def test_compare_shows_what_was_added_and_removed(ada, user):
    link = save(user, "https://example.com/news")
    before = captured(link, "The vote is on Monday. Turnout was low.")
    after = captured(link, "The vote is on Monday. Results arrive tomorrow morning.")
    response = ada.get(
        reverse("snapshots:link_compare", args=[link.pk]), {"a": before.pk, "b": after.pk}
    )
    page = response.content.decode()
    assert "<del>Turnout was low.</del>" in page
    assert "<ins>Results arrive tomorrow morning.</ins>" in page
    assert "1 sentence added" in page
    # Without a choice the two newest captures are compared.
    default = ada.get(reverse("snapshots:link_compare", args=[link.pk])).content.decode()
    assert "<ins>Results arrive tomorrow morning.</ins>" in default


def test_compare_tells_apart_captures_made_in_the_same_minute(ada, user):
    link = save(user, "https://example.com/news")
    first, second = captured(link, "One."), captured(link, "Two.")
    minute = timezone.now().replace(second=0, microsecond=0)
    Snapshot.objects.filter(pk=first.pk).update(requested=minute + timedelta(seconds=5))
    Snapshot.objects.filter(pk=second.pk).update(requested=minute + timedelta(seconds=40))
    page = ada.get(reverse("snapshots:link_compare", args=[link.pk])).content.decode()
    labels = re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', page)
    assert len(labels) == 4  # both captures in each of the two lists
    assert len(set(labels)) == 2


def test_compare_refuses_snapshots_of_another_link_or_not_captured(ada, user):
    link = save(user, "https://example.com/1")
    other = save(user, "https://example.com/2")
    a = captured(link, "one.")
    captured(link, "two.")
    foreign = captured(other, "secret.")
    url = reverse("snapshots:link_compare", args=[link.pk])
    page = ada.get(url, {"a": a.pk, "b": foreign.pk}).content.decode()
    assert "Choose two captured snapshots of this link." in page
    assert "secret." not in page
    assert ada.get(url, {"a": "x", "b": ""}).status_code == 200


def test_compare_with_one_snapshot_explains_why_not(ada, user):
    link = save(user, "https://example.com/1")
    captured(link, "one.")
    page = ada.get(reverse("snapshots:link_compare", args=[link.pk])).content.decode()
    assert "needs two captured snapshots" in page


# --- tags -------------------------------------------------------------------------------------


def test_tags_page_lists_own_tags_with_counts(ada, user, other_user):
    save(user, "https://example.com/1", tags=["python", "ml"])
    save(user, "https://example.com/2", tags=["python"])
    save(other_user, "https://example.com/3", tags=["grace-only"], private=False)
    page = ada.get(reverse("snapshots:tags")).content.decode()
    assert re.search(r">python</a></td>\s*<td class=\"count\">2</td>", page)
    assert re.search(r">ml</a></td>\s*<td class=\"count\">1</td>", page)
    assert "grace-only" not in page


def test_tags_with_numbers_are_listed_in_number_order(ada, user):
    for number in (10, 2, 1):
        save(user, f"https://example.com/{number}", tags=[f"第{number}页", f"part{number}"])
    page = ada.get(reverse("snapshots:tags")).content.decode()
    names = re.findall(r">(第\d+页|part\d+)</a>", page)
    assert names == ["part1", "part2", "part10", "第1页", "第2页", "第10页"]
    library = ada.get(reverse("snapshots:library")).content.decode()
    facets = re.findall(r">(第\d+页|part\d+)</a> <span class=\"count\">", library)
    assert facets == ["part1", "part2", "part10", "第1页", "第2页", "第10页"]


def test_anonymous_visitors_see_public_tags_only(client, user):
    save(user, "https://example.com/1", tags=["open"], private=False)
    save(user, "https://example.com/2", tags=["hidden"])
    page = client.get(reverse("snapshots:tags")).content.decode()
    assert ">open</a>" in page
    assert ">hidden<" not in page
    assert "Rename" not in page


def test_rename_merge_and_delete_tags(ada, user, other_user):
    one = save(user, "https://example.com/1", tags=["py", "ml"])
    two = save(user, "https://example.com/2", tags=["python3"])
    theirs = save(other_user, "https://example.com/3", tags=["py"])
    ada.post(reverse("snapshots:tag_rename"), {"old": "py", "new": "python"})
    assert sorted(one.tags.names()) == ["ml", "python"]
    assert list(theirs.tags.names()) == ["py"]  # other people's links keep their tags
    ada.post(reverse("snapshots:tag_merge"), {"sources": ["python3", "ml"], "target": "python"})
    assert list(one.tags.names()) == ["python"]
    assert list(two.tags.names()) == ["python"]
    confirm = ada.get(reverse("snapshots:tag_delete"), {"name": "python"}).content.decode()
    assert "It is removed from 2 of your links" in confirm
    ada.post(reverse("snapshots:tag_delete"), {"name": "python"})
    assert list(one.tags.names()) == []
    assert Link.objects.count() == 3


def test_tag_form_errors_are_shown_not_a_crash(ada, user):
    save(user, "https://example.com/1", tags=["py"])
    response = ada.post(
        reverse("snapshots:tag_rename"), {"old": "py", "new": "two words"}, follow=True
    )
    assert response.status_code == 200
    assert "Enter one tag name" in response.content.decode()
    response = ada.post(reverse("snapshots:tag_merge"), {"target": "x"}, follow=True)
    assert "Choose the tags to merge." in response.content.decode()
    assert ada.get(reverse("snapshots:tag_delete"), {"name": "unknown"}).status_code == 404


# --- import and export ------------------------------------------------------------------------

BOOKMARKS = b"""<!DOCTYPE NETSCAPE-Bookmark-file-1>
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>Bookmarks</TITLE>
<H1>Bookmarks</H1>
<DL><p>
    <DT><A HREF="https://example.com/one" ADD_DATE="1700000000" TAGS="python,ml">One</A>
    <DD>A note
    <DT><A HREF="https://example.com/two?utm_source=x" ADD_DATE="1700000100">Two</A>
    <DT><A HREF="javascript:alert(1)">Bookmarklet</A>
</DL><p>
"""


def upload(client, data: bytes, name="bookmarks.html"):
    file = io.BytesIO(data)
    file.name = name
    return client.post(reverse("snapshots:links_import"), {"file": file, "private": "on"})


def test_import_saves_links_with_tags_and_reports_what_happened(ada, user):
    save(user, "https://example.com/two")
    page = upload(ada, BOOKMARKS).content.decode()
    assert "Import finished" in page
    assert "1 new link saved" in page
    assert "1 link was already in your library" in page
    assert "1 entry was skipped." in page
    one = Link.objects.get(url="https://example.com/one")
    assert sorted(one.tags.names()) == ["ml", "python"]
    assert one.notes == "A note"
    assert one.private


def test_importing_the_same_file_again_says_there_is_nothing_new(ada, user):
    upload(ada, BOOKMARKS)
    page = upload(ada, BOOKMARKS).content.decode()
    assert "No new links: every link in the file was already in your library." in page
    assert "0 new links" not in page
    assert "2 links were already in your library" in page


def test_a_malformed_import_file_says_why_and_imports_nothing(ada):
    cut_short = BOOKMARKS[: BOOKMARKS.index(b'<DT><A HREF="https://example.com/two') + 20]
    response = upload(ada, cut_short)
    assert response.status_code == 200
    assert "it may be cut short" in response.content.decode()
    assert not Link.objects.exists()
    page = upload(ada, b"just some words").content.decode()
    assert "This is not a bookmarks file" in page
    assert not Link.objects.exists()


def test_import_refuses_a_file_over_the_size_limit(ada, settings):
    from snapshots import forms

    original = forms.MAX_IMPORT_BYTES
    forms.MAX_IMPORT_BYTES = 100
    try:
        page = upload(ada, BOOKMARKS).content.decode()
    finally:
        forms.MAX_IMPORT_BYTES = original
    assert "the limit is 20 MB" in page
    assert not Link.objects.exists()


def test_export_downloads_own_links_as_a_bookmarks_file(ada, user, other_user):
    save(user, "https://example.com/mine", title="Mine", tags=["python"], notes="note")
    save(user, "https://example.com/other", title="Other", tags=["misc"])
    save(other_user, "https://example.com/theirs", title="Theirs", private=False)
    assert "You have 2 links." in ada.get(reverse("snapshots:links_export")).content.decode()
    response = ada.get(reverse("snapshots:links_export"), {"format": "html"})
    assert response["Content-Disposition"].startswith('attachment; filename="kb-bookmarks-')
    body = response.content.decode()
    assert body.startswith("<!DOCTYPE NETSCAPE-Bookmark-file-1>")
    assert 'HREF="https://example.com/mine"' in body
    assert 'TAGS="python"' in body
    assert "Theirs" not in body
    only = ada.get(reverse("snapshots:links_export"), {"format": "html", "tag": "misc"})
    assert "Other" in only.content.decode()
    assert "Mine" not in only.content.decode()


def test_export_zip_holds_the_bookmarks_file(ada, user):
    save(user, "https://example.com/mine", title="Mine")
    response = ada.get(reverse("snapshots:links_export"), {"format": "zip"})
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    bookmarks = next(name for name in names if name.endswith(".html"))
    assert b"https://example.com/mine" in archive.read(bookmarks)


def test_export_with_a_bad_format_is_a_form_error(ada):
    response = ada.get(reverse("snapshots:links_export"), {"format": "pdf"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_import_and_export_need_sign_in(client, user):
    assert client.get(reverse("snapshots:links_import")).status_code == 302
    assert client.get(reverse("snapshots:links_export"), {"format": "html"}).status_code == 302


# --- home -------------------------------------------------------------------------------------


def test_home_page_links_recent_links_to_their_pages(ada, user):
    link = save(user, "https://example.com/1", title="Recent one", tags=["t"])
    page = ada.get("/").content.decode()
    assert f'href="{reverse("snapshots:link_detail", args=[link.pk])}"' in page
    assert "Recent one" in page


# --- bad input is a page or a message, never a server error ------------------------------------

ODD_VALUES = [
    "",
    "x",
    "-1",
    "0",
    "99999999999999999999999",
    "<script>",
    "nul\x00byte",
    "交叉熵",
    "a" * 3000,
]


@pytest.mark.parametrize("value", ODD_VALUES)
def test_odd_parameters_never_cause_a_server_error(ada, user, value):
    link = save(user, "https://example.com/1", tags=["t"])
    captured(link, "one.")
    gets = [
        (
            "/links/",
            {
                "q": value,
                "tag": [value, value],
                "domain": value,
                "state": value,
                "visibility": value,
                "unread": value,
                "sort": value,
                "page": value,
            },
        ),
        (reverse("snapshots:link_compare", args=[link.pk]), {"a": value, "b": value}),
        (reverse("snapshots:links_export"), {"format": value, "tag": value}),
        (reverse("snapshots:tag_delete"), {"name": value}),
        (reverse("snapshots:link_add"), {"url": value, "title": value}),
    ]
    for url, params in gets:
        assert ada.get(url, params).status_code < 500, url
    posts = [
        (reverse("snapshots:link_add"), {"url": value, "tags": value, "title": value}),
        (reverse("snapshots:links_bulk"), {"link": [value], "action": value, "tags": value}),
        (reverse("snapshots:links_bulk"), {"link": [link.pk], "action": "add_tags", "tags": value}),
        (reverse("snapshots:link_edit", args=[link.pk]), {"title": value, "tags": value}),
        (reverse("snapshots:tag_rename"), {"old": value, "new": value}),
        (reverse("snapshots:tag_merge"), {"sources": [value], "target": value}),
        (reverse("snapshots:tag_delete"), {"name": value}),
    ]
    for url, data in posts:
        assert ada.post(url, data).status_code < 500, url
