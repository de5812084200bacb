"""The library API (ARCHITECTURE §6): shapes, auth, visibility, and 4xx JSON for every bad input."""

import json

import pytest
from django.test import Client

from kb.models import ApiToken
from snapshots.models import Link, Snapshot
from snapshots.services.links import link_create

pytestmark = pytest.mark.django_db

LINK_KEYS = {
    "id",
    "url",
    "title",
    "description",
    "notes",
    "tags",
    "private",
    "created",
    "snapshots",
}
SNAPSHOT_KEYS = {
    "id",
    "status",
    "error",
    "created",
    "finished",
    "http_status",
    "final_url",
    "content_type",
    "title",
    "text",
    "archive_url",
    "size",
}


@pytest.fixture(autouse=True)
def captures_queued_not_run(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def ada(user, api_token):
    return Client(headers={"Authorization": f"Bearer {api_token}"})


@pytest.fixture
def grace(other_user):
    return Client(headers={"Authorization": f"Bearer {ApiToken.issue(other_user)[1]}"})


@pytest.fixture
def anonymous():
    return Client()


def post(client, path, body, **kwargs):
    return client.post(path, json.dumps(body), content_type="application/json", **kwargs)


def patch(client, path, body):
    return client.patch(path, json.dumps(body), content_type="application/json")


def assert_error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body["error"], str)
    assert body["error"]
    return body["error"]


def test_post_creates_a_link_then_answers_the_same_link_with_a_new_capture(ada):
    first = post(ada, "/api/links", {"url": "https://example.com/a?utm_source=x", "tags": ["ml"]})
    assert first.status_code == 201
    link = first.json()
    assert set(link) >= LINK_KEYS
    assert link["url"] == "https://example.com/a"
    assert link["tags"] == ["ml"]
    assert link["private"] is True
    assert len(link["snapshots"]) == 1
    assert set(link["snapshots"][0]) >= SNAPSHOT_KEYS
    assert link["snapshots"][0]["status"] == "pending"
    assert link["snapshots"][0]["archive_url"] is None

    again = post(ada, "/api/links", {"url": "https://example.com/a#frag", "tags": "new, more"})
    assert again.status_code == 200
    assert again.json()["id"] == link["id"]
    assert sorted(again.json()["tags"]) == ["ml", "more", "new"]
    assert len(again.json()["snapshots"]) == 2


def test_post_with_a_bad_url_is_422_with_the_sentence(ada):
    response = post(ada, "/api/links", {"url": "javascript:alert(1)"})
    assert assert_error(response, 422) == "Only http and https links can be saved, not javascript:."
    assert not Link.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[]",
        '"https://example.com/"',
        json.dumps({}),
        json.dumps({"url": 42}),
        json.dumps({"url": None}),
        json.dumps({"url": ["https://example.com/"]}),
        json.dumps({"url": "https://example.com/", "tags": [1, {"x": 2}]}),
        json.dumps({"url": "https://example.com/", "private": "perhaps"}),
        json.dumps({"url": "https://example.com/" + "a" * 10_000}),
        json.dumps({"url": "https://example.com/", "title": "t" * 501}),
        json.dumps({"url": "https://example.com/", "tags": ["x" * 101]}),
        json.dumps({"url": "https://example.com/", "notes": "n" * 200_000}),
    ],
)
def test_malformed_post_bodies_are_4xx_json(ada, body):
    response = ada.post("/api/links", body, content_type="application/json")
    assert 400 <= response.status_code < 500, response.content
    assert "error" in response.json()
    assert not Link.objects.exists()


def test_writes_need_a_token_or_a_signed_in_session(anonymous, user):
    assert_error(post(anonymous, "/api/links", {"url": "https://example.com/"}), 401)
    bad = Client(headers={"Authorization": "Bearer nope"})
    assert_error(post(bad, "/api/links", {"url": "https://example.com/"}), 401)
    assert_error(bad.get("/api/links"), 401)
    # A session works only with its CSRF token.
    session = Client(enforce_csrf_checks=True)
    session.force_login(user)
    assert post(session, "/api/links", {"url": "https://example.com/"}).status_code in (401, 403)
    assert not Link.objects.exists()


def test_visibility_across_two_users_and_anonymous(ada, grace, anonymous, user, other_user):
    mine_private, _ = link_create(owner=user, url="https://example.com/ada-private")
    mine_public, _ = link_create(owner=user, url="https://example.com/ada-public", private=False)
    theirs_private, _ = link_create(owner=other_user, url="https://example.com/grace-private")

    def ids(client):
        body = client.get("/api/links").json()
        assert body["count"] == len(body["items"])
        return {item["id"] for item in body["items"]}

    assert ids(ada) == {mine_private.pk, mine_public.pk}
    assert ids(grace) == {mine_public.pk, theirs_private.pk}
    assert ids(anonymous) == {mine_public.pk}

    assert ada.get(f"/api/links/{mine_private.pk}").status_code == 200
    assert assert_error(grace.get(f"/api/links/{mine_private.pk}"), 404) == "No such link."
    assert assert_error(anonymous.get(f"/api/links/{mine_private.pk}"), 404) == "No such link."
    assert anonymous.get(f"/api/links/{mine_public.pk}").status_code == 200

    snapshot = mine_private.latest_snapshot
    assert ada.get(f"/api/snapshots/{snapshot.pk}").status_code == 200
    assert_error(grace.get(f"/api/snapshots/{snapshot.pk}"), 404)
    assert_error(anonymous.get(f"/api/snapshots/{snapshot.pk}"), 404)


def test_non_owner_cannot_change_delete_or_capture_even_a_public_link(grace, user):
    link, _ = link_create(owner=user, url="https://example.com/", private=False)
    assert assert_error(patch(grace, f"/api/links/{link.pk}", {"title": "x"}), 404) == (
        "No such link."
    )
    assert_error(grace.delete(f"/api/links/{link.pk}"), 404)
    assert_error(grace.post(f"/api/links/{link.pk}/capture"), 404)
    link.refresh_from_db()
    assert link.title == ""


def test_patch_changes_fields_and_tags(ada, user):
    link, _ = link_create(owner=user, url="https://example.com/", tags=["a"])
    response = patch(
        ada,
        f"/api/links/{link.pk}",
        {"title": "Entropy", "tags": ["b", "c"], "private": False, "unread": False, "notes": None},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["title"], body["private"], body["unread"], body["notes"]) == (
        "Entropy",
        False,
        False,
        "",
    )
    assert sorted(body["tags"]) == ["b", "c"]


def test_patch_errors_are_422(ada, user):
    _one, _ = link_create(owner=user, url="https://example.com/one")
    two, _ = link_create(owner=user, url="https://example.com/two")
    assert "already saved" in assert_error(
        patch(ada, f"/api/links/{two.pk}", {"url": "https://example.com/one"}), 422
    )
    assert_error(patch(ada, f"/api/links/{two.pk}", {"url": "ftp://x"}), 422)
    assert_error(patch(ada, f"/api/links/{two.pk}", {"private": None}), 422)
    assert_error(patch(ada, f"/api/links/{two.pk}", {"private": [1]}), 422)
    bad = ada.patch(f"/api/links/{two.pk}", "{oops", content_type="application/json")
    assert 400 <= bad.status_code < 500
    assert "error" in bad.json()


def test_delete_removes_the_link(ada, user):
    link, _ = link_create(owner=user, url="https://example.com/")
    assert ada.delete(f"/api/links/{link.pk}").status_code == 204
    assert not Link.objects.exists()
    assert_error(ada.delete(f"/api/links/{link.pk}"), 404)


def test_capture_answers_202_with_the_pending_snapshot(ada, user):
    link, _ = link_create(owner=user, url="https://example.com/", capture=False)
    response = ada.post(f"/api/links/{link.pk}/capture")
    assert response.status_code == 202
    snapshot = response.json()
    assert set(snapshot) >= SNAPSHOT_KEYS
    assert snapshot["status"] == "pending"
    assert Snapshot.objects.get(pk=snapshot["id"]).link_id == link.pk


def test_snapshot_object_has_text_and_an_archive_path(ada, user):
    link, _ = link_create(owner=user, url="https://example.com/", capture=False)
    snapshot = Snapshot.objects.create(
        link=link, status=Snapshot.Status.SUCCEEDED, text="Main text", title="T", size=10
    )
    body = ada.get(f"/api/snapshots/{snapshot.pk}").json()
    assert body["text"] == "Main text"
    assert body["status"] == "succeeded"
    assert body["archive_url"] is None  # nothing stored yet


@pytest.mark.parametrize(
    "path",
    [
        "/api/links/0",
        "/api/links/-1",
        "/api/links/99999999999999999999999",
        "/api/links/abc",
        "/api/snapshots/0",
        "/api/snapshots/123456",
        "/api/snapshots/x",
    ],
)
def test_unknown_ids_are_4xx_json(ada, path):
    response = ada.get(path)
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-3",
        "page=abc",
        "page=99999999999999999999999",
        "per_page=0",
        "per_page=101",
        "state=exploded",
        "sort=random",
        "visibility=secret",
        "unread=maybe",
        "q=" + "x" * 600,
        "tag=" + "t" * 101,
    ],
)
def test_bad_list_queries_are_422(ada, query):
    assert_error(ada.get(f"/api/links?{query}"), 422)


def test_list_filters_by_tags_search_and_pages(ada, user):
    for i in range(5):
        link_create(
            owner=user,
            url=f"https://example.com/{i}",
            title=f"Post {i} about entropy" if i % 2 else f"Post {i}",
            tags=["a", "b"] if i < 2 else ["a"],
        )
    assert ada.get("/api/links?tag=a&tag=b").json()["count"] == 2
    body = ada.get("/api/links?q=entropy").json()
    assert body["count"] == 2
    assert all("<mark>entropy</mark>" in item["excerpt"] for item in body["items"])
    page = ada.get("/api/links?per_page=2&page=3").json()
    assert page["count"] == 5
    assert len(page["items"]) == 1
    beyond = ada.get("/api/links?per_page=2&page=9").json()
    assert beyond == {"count": 5, "items": []}
    titles = [item["title"] for item in ada.get("/api/links?sort=title").json()["items"]]
    assert titles == sorted(titles, key=str.lower)


def test_tags_endpoint_counts_visible_links(ada, anonymous, user, other_user):
    link_create(owner=user, url="https://a.example/", tags=["ml", "熵"])
    link_create(owner=user, url="https://b.example/", tags=["ml"], private=False)
    link_create(owner=other_user, url="https://c.example/", tags=["secret"])
    assert ada.get("/api/tags").json() == [
        {"name": "ml", "slug": "ml", "count": 2},
        {"name": "熵", "slug": "熵", "count": 1},
    ]
    assert anonymous.get("/api/tags").json() == [{"name": "ml", "slug": "ml", "count": 1}]


def test_openapi_schema_lists_the_library_routes(anonymous):
    schema = anonymous.get("/api/openapi.json").json()
    for path in ("/api/links", "/api/links/{link_id}", "/api/links/{link_id}/capture", "/api/tags"):
        assert path in schema["paths"]
    assert "LinkOut" in schema["components"]["schemas"]
    assert "SnapshotOut" in schema["components"]["schemas"]


def test_saved_answers_whether_a_page_is_already_in_the_callers_library(user, other_user):
    link, _ = link_create(owner=user, url="https://a.example/story?utm_source=x", capture=False)
    link_create(owner=other_user, url="https://b.example/", private=False, capture=False)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(user)[1]}")
    found = api.get("/api/links/saved", {"url": "https://A.example/story#top"})
    assert found.status_code == 200
    assert found.json()["id"] == link.pk
    missing = api.get("/api/links/saved", {"url": "https://b.example/"})  # someone else's
    assert missing.status_code == 404
    assert missing.json()["error"] == "This page is not in your library."
    assert api.get("/api/links/saved", {"url": "not a url"}).status_code == 422
    assert api.get("/api/links/saved").status_code == 422
    assert Client().get("/api/links/saved", {"url": "https://a.example/"}).status_code == 401
