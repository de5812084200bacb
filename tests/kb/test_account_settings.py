"""The account settings page: API tokens made (shown once), used and revoked; language, theme and
new links' privacy remembered per user; the web app manifest that lets a phone share a link."""

import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from kb.models import ApiToken, UserSettings
from snapshots.models import Link

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _captures_stay_queued(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def new_key(html: str) -> str:
    found = re.search(r'value="([^"]+)" aria-label="New API token"', html)
    assert found is not None, "the new token is not shown"
    return found.group(1)


def test_the_settings_page_needs_a_sign_in(client, user):
    response = client.get(reverse("account_settings"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_token_made_on_the_page_opens_the_api_until_it_is_revoked(client, user):
    client.force_login(user)
    page = client.post(reverse("api_token_create"), {"name": "browser extension"})
    assert page.status_code == 200
    html = page.content.decode()
    key = new_key(html)
    assert "shown only this once" in html
    token = ApiToken.objects.get(user=user)
    assert token.name == "browser extension"
    assert token.key_hash != key
    assert key not in client.get(reverse("account_settings")).content.decode()  # once

    api = Client()
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert api.get("/api/links", **bearer).status_code == 200
    assert "never" not in client.get(reverse("account_settings")).content.decode()  # last use

    assert client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 302
    refused = api.get("/api/links", **bearer)
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Bearer"


def test_nobody_revokes_someone_elses_token(client, user, other_user):
    token, _key = ApiToken.issue(other_user, name="theirs")
    client.force_login(user)
    assert client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert client.get(reverse("api_token_revoke", args=[token.pk])).status_code == 405


def test_a_too_long_token_name_is_a_form_error(client, user):
    client.force_login(user)
    response = client.post(reverse("api_token_create"), {"name": "x" * 101})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_language_theme_and_privacy_are_saved_and_applied(client, user):
    client.force_login(user)
    response = client.post(
        reverse("account_settings"), {"language": "zh-hans", "theme": "dark"}
    )  # the privacy box left unticked: new links public
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    chosen = UserSettings.objects.get(user=user)
    assert (chosen.language, chosen.theme, chosen.new_links_private) == ("zh-hans", "dark", False)

    html = client.get(reverse("snapshots:library")).content.decode()
    assert '<html lang="zh-hans" data-theme="dark">' in html
    add = client.get(reverse("snapshots:link_add")).content.decode()
    assert not re.search(r'name="private"[^>]*checked', add)

    # a new browser of the same person, with no language cookie of its own: their language
    fresh = Client()
    fresh.force_login(user)
    assert '<html lang="zh-hans"' in fresh.get(reverse("snapshots:library")).content.decode()
    # the header's language buttons still win in a browser that used them
    fresh.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert '<html lang="en"' in fresh.get(reverse("snapshots:library")).content.decode()


def test_the_api_makes_links_with_the_owners_default_privacy(user, api_token):
    api = Client(HTTP_AUTHORIZATION=f"Bearer {api_token}")
    first = api.post("/api/links", {"url": "https://a.example/"}, content_type="application/json")
    assert first.status_code == 201
    assert first.json()["private"] is True
    UserSettings.objects.create(user=user, new_links_private=False)
    second = api.post("/api/links", {"url": "https://b.example/"}, content_type="application/json")
    assert second.json()["private"] is False
    said = api.post(
        "/api/links",
        {"url": "https://c.example/", "private": True},
        content_type="application/json",
    )
    assert said.json()["private"] is True
    assert Link.objects.filter(private=False).count() == 1


def test_a_bad_setting_is_a_form_error(client, user):
    client.force_login(user)
    response = client.post(reverse("account_settings"), {"language": "fr", "theme": "neon"})
    assert response.status_code == 400
    assert "field-errors" in response.content.decode()


def test_the_manifest_is_a_share_target_for_the_add_form(client, user):
    manifest = client.get("/manifest.webmanifest")
    assert manifest.status_code == 200
    assert manifest["Content-Type"] == "application/manifest+json"
    target = manifest.json()["share_target"]
    assert target["action"] == reverse("snapshots:link_add")
    assert target["method"] == "GET"
    assert target["params"] == {"title": "title", "text": "text", "url": "url"}

    # a phone's share sheet often sends the address inside "text"
    client.force_login(user)
    shared = client.get(
        reverse("snapshots:link_add"),
        {"title": "Slow water", "text": "Slow water https://news.example/slow-water"},
    ).content.decode()
    assert 'value="https://news.example/slow-water"' in shared
    assert 'value="Slow water"' in shared
