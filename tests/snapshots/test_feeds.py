"""Atom feeds of public links, all and per tag; private links never appear."""

import pytest
from django.test import Client

from snapshots.services.links import link_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def captures_queued_not_run(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def links(user, other_user):
    link_create(
        owner=user,
        url="https://example.com/public",
        title="Public entropy notes",
        notes="**Bold** idea <script>x</script>",
        tags=["ml", "熵"],
        private=False,
    )
    link_create(owner=user, url="https://example.com/secret", title="Secret", tags=["ml"])
    link_create(
        owner=other_user, url="https://example.com/other", title="Other public", private=False
    )


def test_public_links_feed_is_atom_without_private_links(links):
    response = Client().get("/feeds/links/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    body = response.content.decode()
    assert "Public entropy notes" in body
    assert "Other public" in body
    assert "Secret" not in body
    assert "&lt;strong&gt;Bold&lt;/strong&gt;" in body  # notes rendered, then escaped into XML
    assert "<script>" not in body
    assert 'term="熵"' in body


def test_tag_feed_lists_only_public_links_with_that_tag(links):
    body = Client().get("/feeds/tags/ml/").content.decode()
    assert "Public entropy notes" in body
    assert "Secret" not in body
    assert "Other public" not in body
    assert Client().get("/feeds/tags/熵/").status_code == 200


def test_unknown_tag_feed_is_404(links):
    assert Client().get("/feeds/tags/no-such-tag/").status_code == 404
