"""Saved searches: kept per user, listed beside the library, each with an Atom feed, and in the API."""

import pytest
from django.urls import reverse

from snapshots.models import SavedSearch
from snapshots.services.links import link_create
from snapshots.services.saved_searches import SavedSearchError, saved_search_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def captures_queued_not_run(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def links(user, other_user):
    link_create(owner=user, url="https://a.example/ml", title="Gradient notes", tags=["ml"])
    link_create(owner=user, url="https://b.example/cook", title="Pasta", tags=["food"])
    link_create(owner=other_user, url="https://c.example/ml", title="Theirs", tags=["ml"])


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_saving_from_the_library_lists_it_beside_the_library(client, user, links):
    client.force_login(user)
    page = client.get(reverse("snapshots:library"), {"q": "#ml"}).content.decode()
    assert "Save search" in page

    response = client.post(
        reverse("snapshots:saved_search_add"), {"name": "Machine learning", "q": "#ml"}
    )

    saved = SavedSearch.objects.get(owner=user)
    assert response.status_code == 302
    assert response["Location"] == saved.library_url
    page = client.get(reverse("snapshots:library")).content.decode()
    assert "Machine learning" in page
    assert saved.feed_url in page


def test_the_library_keeps_its_first_screen_for_links_until_there_is_a_search_to_save(
    client, user, links
):
    client.force_login(user)
    page = client.get(reverse("snapshots:library")).content.decode()
    assert "Saved searches" not in page
    assert "Gradient notes" in page

    page = client.get(reverse("snapshots:library"), {"q": "pasta"}).content.decode()
    assert "Saved searches" in page
    assert "Save search" in page


def test_saving_without_a_name_or_with_a_bad_date_says_why(client, user, links):
    client.force_login(user)
    response = client.post(
        reverse("snapshots:saved_search_add"), {"name": " ", "q": "#ml"}, follow=True
    )
    assert "Give the search a name." in response.content.decode()
    response = client.post(
        reverse("snapshots:saved_search_add"), {"name": "x", "q": "after:soon"}, follow=True
    )
    assert "is not a date" in response.content.decode()
    assert not SavedSearch.objects.exists()


def test_a_name_is_used_once_per_user(user, other_user):
    saved_search_create(owner=user, name="ML", q="#ml")
    saved_search_create(owner=other_user, name="ML", q="#ml")
    with pytest.raises(SavedSearchError, match="already have a saved search named"):
        saved_search_create(owner=user, name="ML", q="entropy")


def test_deleting_only_ones_own(client, user, other_user):
    mine = saved_search_create(owner=user, name="ML", q="#ml")
    theirs = saved_search_create(owner=other_user, name="ML", q="#ml")
    client.force_login(user)
    assert (
        client.post(reverse("snapshots:saved_search_delete", args=[theirs.pk])).status_code == 404
    )
    assert client.post(reverse("snapshots:saved_search_delete", args=[mine.pk])).status_code == 302
    assert list(SavedSearch.objects.all()) == [theirs]


def test_the_feed_lists_what_its_owner_sees_at_a_secret_address(client, user, links):
    saved = saved_search_create(owner=user, name="Machine learning", q="#ml")

    response = client.get(saved.feed_url)  # a feed reader: not signed in

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    body = response.content.decode()
    assert "Machine learning" in body
    assert "https://a.example/ml" in body  # private, the owner's
    assert "https://c.example/ml" not in body  # someone else's private link
    assert "https://b.example/cook" not in body
    assert client.get(reverse("snapshots:feed_saved_search", args=["guess"])).status_code == 404


def test_api_crud(client, user, api_token, links):
    created = client.post(
        "/api/searches",
        {"name": "ML", "q": "#ml -pasta", "sort": "title"},
        content_type="application/json",
        **bearer(api_token),
    )
    assert created.status_code == 201
    item = created.json()
    assert item["name"] == "ML"
    assert item["q"] == "#ml -pasta"
    assert item["feed_url"].startswith("/feeds/searches/")

    listed = client.get("/api/searches", **bearer(api_token)).json()
    assert [s["name"] for s in listed] == ["ML"]

    patched = client.patch(
        f"/api/searches/{item['id']}",
        {"name": "Learning"},
        content_type="application/json",
        **bearer(api_token),
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Learning"
    assert patched.json()["q"] == "#ml -pasta"

    found = client.get("/api/links", {"q": patched.json()["q"]}, **bearer(api_token)).json()
    assert [link["url"] for link in found["items"]] == ["https://a.example/ml"]

    deleted = client.delete(f"/api/searches/{item['id']}", **bearer(api_token))
    assert deleted.status_code == 204
    assert client.get(f"/api/searches/{item['id']}", **bearer(api_token)).status_code == 404


def test_api_refuses_bad_values_with_sentences(client, user, api_token):
    def post(body):
        return client.post(
            "/api/searches", body, content_type="application/json", **bearer(api_token)
        )

    bad_date = post({"name": "x", "q": "before:2024-02-30"})
    assert bad_date.status_code == 422
    assert bad_date.json() == {
        "error": "“before:2024-02-30” is not a date: write it as YYYY-MM-DD, e.g. before:2024-01-31.",
        "field": "q",
    }
    assert post({"name": "x", "q": "#ml", "sort": "random"}).status_code == 422
    assert post({"name": "", "q": "#ml"}).json()["error"] == "Give the search a name."
    assert post({"name": "x", "q": "  "}).status_code == 422
    assert post({"name": "x"}).status_code == 422


def test_api_saved_searches_are_private_to_their_owner(client, user, other_user, api_token):
    theirs = saved_search_create(owner=other_user, name="Theirs", q="#ml")
    assert client.get("/api/searches", **bearer(api_token)).json() == []
    assert client.get(f"/api/searches/{theirs.pk}", **bearer(api_token)).status_code == 404
    assert client.delete(f"/api/searches/{theirs.pk}", **bearer(api_token)).status_code == 404
    assert client.get("/api/searches").status_code == 401
