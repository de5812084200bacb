"""Odd input a person or a file can put in the library: the pages answer with a sentence, never a 500."""

import importlib

import pytest
from django.apps import apps
from django.http import HttpResponse
from django.urls import reverse
from taggit.models import Tag

from snapshots import access
from snapshots.models import Link
from snapshots.services.importer import import_bookmarks
from snapshots.services.links import link_create, link_delete
from snapshots.views import archive as archive_views
from tests.snapshots import test_library_views

pytestmark = pytest.mark.django_db

# The library pages' fixtures: a signed-in "ada" client, captures left queued.
ada = test_library_views.ada
_captures_stay_queued = test_library_views._captures_stay_queued

PAGES = ("home", "snapshots:tags", "snapshots:library")


def test_a_tag_of_only_punctuation_is_refused_with_a_sentence(ada, user):
    response = ada.post(
        reverse("snapshots:link_add"), {"url": "https://a.example/", "tags": "' ok", "private": ""}
    )
    assert response.status_code == 200
    assert (
        "A tag needs at least one letter or digit; “&#x27;” has none." in response.content.decode()
    )
    assert not Link.objects.exists()
    for name in PAGES:
        assert ada.get(reverse(name)).status_code == 200


def test_the_api_refuses_a_tag_of_only_punctuation(client, user):
    client.force_login(user)
    response = client.post(
        "/api/links", {"url": "https://a.example/", "tags": ["--"]}, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["error"] == "A tag needs at least one letter or digit; “--” has none."


def test_an_import_leaves_out_folders_of_only_punctuation(user):
    data = (
        b"<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n<DT><H3>...</H3>\n<DL><p>\n"
        b'<DT><A HREF="https://a.example/" TAGS="\',ok">A</A>\n</DL><p>\n</DL><p>\n'
    )
    import_bookmarks(owner=user, data=data, capture=False)
    assert list(Link.objects.get().tags.names()) == ["ok"]


def test_stored_tags_with_an_empty_slug_are_given_one_and_every_page_answers(client, user):
    link, _ = link_create(owner=user, url="https://a.example/", tags=["ok"], private=False)
    broken = Tag.objects.create(name="'", slug="")
    link.tags.add(broken)
    migration = importlib.import_module("snapshots.migrations.0010_tag_empty_slugs")
    migration.repair_empty_slugs(apps, None)
    broken.refresh_from_db()
    assert broken.slug == f"tag-{broken.pk}"
    for name in PAGES:
        assert client.get(reverse(name)).status_code == 200
    page = client.get(reverse("snapshots:tag_detail", args=[broken.slug]))
    assert page.status_code == 200
    assert "https://a.example/" in page.content.decode()


# --- control characters -----------------------------------------------------------------------


def test_control_characters_are_removed_from_what_is_saved(user):
    link, _ = link_create(
        owner=user,
        url="https://a.example/",
        title="a\u000bb\x00\udc80",
        notes="one\x01\ntwo\t\x85",
        tags=["x\x07y"],
    )
    assert (link.title, link.notes, list(link.tags.names())) == ("ab", "one\ntwo\t", ["xy"])


def test_both_feeds_answer_for_links_stored_with_control_characters(client, user):
    link, _ = link_create(owner=user, url="https://a.example/", tags=["ml"], private=False)
    Link.objects.filter(pk=link.pk).update(
        title="a\u000bb", notes="n\x1bote", description="d\x0cesc"
    )
    Tag.objects.filter(name="ml").update(name="m\x02l")
    for url in (reverse("snapshots:feed_links"), reverse("snapshots:feed_tag", args=["ml"])):
        response = client.get(url)
        assert response.status_code == 200
        assert "<title>ab</title>" in response.content.decode()


def test_an_import_removes_control_characters(user):
    data = (
        b"<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n"
        b'<DT><A HREF="https://a.example/">A\x01B</A>\n<DD>no\x1bte\n</DL><p>\n'
    )
    import_bookmarks(owner=user, data=data, capture=False)
    link = Link.objects.get()
    assert (link.title, link.notes.strip()) == ("AB", "note")


# --- many tags --------------------------------------------------------------------------------


def test_a_filter_of_1340_tags_answers_with_a_sentence(client, user):
    link_create(owner=user, url="https://a.example/", tags=["t1"], private=False)
    names = ",".join(f"t{n}" for n in range(1340))
    response = client.get(reverse("snapshots:library"), {"tags": names})
    assert response.status_code == 200
    assert "A filter can name at most 50 tags." in response.content.decode()
    api = client.get("/api/links?" + "&".join(f"tag=t{n}" for n in range(60)))
    assert api.status_code == 422
    assert api.json()["error"] == "A filter can name at most 50 tags."


def test_a_filter_of_50_tags_finds_the_links_carrying_them_all(client, user):
    names = [f"T{n}" for n in range(50)] + ["Ärger"]
    link_create(owner=user, url="https://a.example/", tags=names, private=False)
    query = "&".join(f"tag={name.lower()}" for name in names[:49]) + "&tag=Ärger"
    response = client.get("/api/links?" + query)
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_a_link_with_5000_tags_is_refused_with_a_sentence(ada, user):
    response = ada.post(
        reverse("snapshots:link_add"),
        {"url": "https://a.example/", "tags": " ".join(f"t{n}" for n in range(150))},
    )
    assert response.status_code == 200
    assert "A link can carry at most 100 tags." in response.content.decode()
    api = ada.post(
        "/api/links",
        {"url": "https://a.example/", "tags": [f"t{n}" for n in range(5000)]},
        content_type="application/json",
    )
    assert (api.status_code, api.json()["error"]) == (422, "A link can carry at most 100 tags.")
    assert not Link.objects.exists()


def test_an_import_with_1000_nested_folders_reports_the_link_it_skipped(user):
    data = (
        b"<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n"
        + b"".join(b"<DT><H3>f%d</H3>\n<DL><p>\n" % n for n in range(1000))
        + b'<DT><A HREF="https://deep.example/">deep</A>\n'
        + b"</DL><p>\n" * 1000
        + b'<DT><A HREF="https://top.example/">top</A>\n</DL><p>\n'
    )
    result = import_bookmarks(owner=user, data=data, capture=False)
    assert result.created == 1
    assert result.skipped == 1
    assert result.errors[0].endswith("https://deep.example/ — A link can carry at most 100 tags.")


# --- a link deleted while another request works on it -----------------------------------------


@pytest.fixture
def deleted_after_lookup(monkeypatch):
    """The link is deleted by a "parallel" request right after this one found it."""
    found = access.link_write

    def link_write_then_deleted(request, link_id):
        link = found(request, link_id)
        link_delete(link=Link.objects.get(pk=link.pk))
        return link

    monkeypatch.setattr(access, "link_write", link_write_then_deleted)


@pytest.mark.usefixtures("deleted_after_lookup")
def test_api_writes_racing_a_delete_answer_404(ada, user):
    link, _ = link_create(owner=user, url="https://a.example/", capture=False)
    patched = ada.patch(f"/api/links/{link.pk}", {"title": "new"}, content_type="application/json")
    assert (patched.status_code, patched.json()) == (404, {"error": "No such link."})
    link, _ = link_create(owner=user, url="https://b.example/", capture=False)
    captured = ada.post(f"/api/links/{link.pk}/capture")
    assert (captured.status_code, captured.json()) == (404, {"error": "No such link."})
    assert not Link.objects.exists()


@pytest.mark.usefixtures("deleted_after_lookup")
def test_pages_racing_a_delete_answer_404(ada, user):
    link, _ = link_create(owner=user, url="https://a.example/", capture=False)
    edited = ada.post(reverse("snapshots:link_edit", args=[link.pk]), {"title": "new", "tags": ""})
    assert edited.status_code == 404
    link, _ = link_create(owner=user, url="https://b.example/", capture=False)
    assert ada.post(reverse("snapshots:link_capture", args=[link.pk])).status_code == 404
    assert not Link.objects.exists()


# --- other people's private tags --------------------------------------------------------------


def test_a_tag_only_others_private_links_carry_is_not_found(client, user, other_user):
    link_create(owner=other_user, url="https://a.example/", tags=["secret-plan"], private=True)
    slug = Tag.objects.get(name="secret-plan").slug
    for url in (
        reverse("snapshots:tag_detail", args=[slug]),
        reverse("snapshots:feed_tag", args=[slug]),
    ):
        assert client.get(url).status_code == 404
        client.force_login(user)
        assert client.get(url).status_code == 404
        client.logout()
    client.force_login(other_user)
    assert client.get(reverse("snapshots:tag_detail", args=[slug])).status_code == 200
    assert client.get(reverse("snapshots:feed_tag", args=[slug])).status_code == 404


def test_renaming_a_tag_by_case_says_nothing_of_others_private_links(ada, user, other_user):
    mine, _ = link_create(owner=user, url="https://a.example/", tags=["pytorch"])
    theirs, _ = link_create(owner=other_user, url="https://b.example/", tags=["pytorch"])
    response = ada.post(
        reverse("snapshots:tag_rename"), {"old": "pytorch", "new": "PyTorch"}, follow=True
    )
    page = response.content.decode()
    assert "Other people" not in page
    assert list(mine.tags.names()) == ["PyTorch"]
    assert list(theirs.tags.names()) == ["pytorch"]


# --- credentials in URLs ----------------------------------------------------------------------


def test_credentials_in_a_url_are_not_stored_or_shown(client, user):
    link, _ = link_create(owner=user, url="https://ada:s3cret@intranet.example/page", private=False)
    assert link.url == "https://intranet.example/page"
    for url in (reverse("snapshots:library"), reverse("snapshots:feed_links")):
        assert "s3cret" not in client.get(url).content.decode()


def test_stored_credentials_are_removed_and_twins_kept(user):
    kept, _ = link_create(owner=user, url="https://intranet.example/page", capture=False)
    twin, _ = link_create(owner=user, url="https://other.example/", capture=False)
    alone, _ = link_create(owner=user, url="https://third.example/", capture=False)
    Link.objects.filter(pk=twin.pk).update(
        url="https://ada:s3cret@intranet.example/page",
        normalized_url="https://ada:s3cret@intranet.example/page",
    )
    Link.objects.filter(pk=alone.pk).update(
        url="https://bo:pw@third.example/", normalized_url="https://bo:pw@third.example/"
    )
    migration = importlib.import_module("snapshots.migrations.0011_link_url_credentials")
    migration.strip_credentials(apps, None)
    urls = dict(Link.objects.values_list("pk", "url"))
    assert urls == {
        kept.pk: "https://intranet.example/page",
        twin.pk: "https://intranet.example/page",
        alone.pk: "https://third.example/",
    }
    assert Link.objects.get(pk=alone.pk).normalized_url == "https://third.example/"


def test_an_archive_is_not_kept_by_the_browser_after_logout():
    response = archive_views.archive_headers(HttpResponse("x"))
    assert response["Cache-Control"] == "private, no-store"
    assert response["Vary"] == "Cookie, Authorization"
    assert response["Content-Security-Policy"] == archive_views.ARCHIVE_CSP
    assert response["X-Content-Type-Options"] == "nosniff"
