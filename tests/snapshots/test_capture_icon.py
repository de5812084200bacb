"""The site's favicon in the library: inlined at capture, served from /snapshots/<id>/icon/,
shown in place of the letter avatar. End to end against a local site on 127.0.0.1.
"""

import hashlib
import re

import pytest
from django.urls import reverse

from snapshots.capture.inline import inline
from snapshots.models import Blob, Link, Snapshot
from snapshots.tasks import capture_snapshot, snapshot_request
from tests.support.capture import capture_from, fake_web
from tests.support.images import gif, png
from tests.support.servers import LocalHTTPServer

ICON_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
ICON = png(16, 16, (200, 30, 30))
TOUCH_ICON = gif((10, 20, 30))
SVG_ICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    b'<script>alert("from the icon")</script><circle cx="8" cy="8" r="8" fill="teal"/></svg>'
)


def page(head: str) -> bytes:
    return (
        f"<!doctype html><html><head><title>Icon test</title>{head}</head>"
        "<body><p>A page with a paragraph of text to keep.</p></body></html>"
    ).encode()


@pytest.fixture
def server():
    with LocalHTTPServer() as server:
        html = {"Content-Type": "text/html; charset=utf-8"}
        server.route("/with-icon", body=page('<link rel="icon" href="/favicon.png">'), headers=html)
        server.route("/without-icon", body=page(""), headers=html)
        server.route("/svg-icon", body=page('<link rel="icon" href="/icon.svg">'), headers=html)
        server.route("/favicon.png", body=ICON, headers={"Content-Type": "image/png"})
        server.route("/icon.svg", body=SVG_ICON, headers={"Content-Type": "image/svg+xml"})
        yield server


@pytest.fixture(autouse=True)
def capture_settings(settings, server, tmp_path):
    return capture_from(settings, server, tmp_path)


def captured(user, url: str, private: bool = True) -> Snapshot:
    link = Link.objects.create(owner=user, url=url, normalized_url=url, private=private)
    snapshot = snapshot_request(link=link, enqueue=False)
    capture_snapshot.enqueue(snapshot.pk)  # the immediate backend of the tests runs it now
    snapshot.refresh_from_db()
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    return snapshot


def library_html(client) -> str:
    response = client.get(reverse("snapshots:library"))
    assert response.status_code == 200
    return response.content.decode()


def icon_url(snapshot: Snapshot) -> str:
    return f"/snapshots/{snapshot.pk}/icon/"


# --- capture, library, icon URL -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_captured_favicon_is_shown_in_the_library_and_served(client, user, server):
    snapshot = captured(user, server.url("/with-icon"))
    assert snapshot.icon_sha256 == hashlib.sha256(ICON).hexdigest()

    client.force_login(user)
    html = library_html(client)
    assert f'<img class="favicon" src="{icon_url(snapshot)}" alt="" width="16" height="16"' in html
    assert not re.search(r'class="avatar avatar--\d"', html)  # no letter avatar for this row

    response = client.get(icon_url(snapshot))
    assert response.status_code == 200
    assert response.content == ICON
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == ICON_CSP
    assert response["Cache-Control"] == "private, no-cache"  # was max-age=86400 (issue 10)
    assert {"Cookie", "Authorization"} <= set(response["Vary"].split(", "))
    assert response["ETag"] == f'"{snapshot.icon_sha256}"'


@pytest.mark.django_db
def test_a_browser_holding_the_icon_gets_304(client, user, server):
    snapshot = captured(user, server.url("/with-icon"))
    client.force_login(user)
    etag = client.get(icon_url(snapshot))["ETag"]

    for held in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get(icon_url(snapshot), headers={"If-None-Match": held})
        assert response.status_code == 304, held
        assert response.content == b""
        assert response["ETag"] == etag
    changed = client.get(icon_url(snapshot), headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200
    assert changed.content == ICON


@pytest.mark.django_db
def test_a_private_links_icon_is_404_for_others_and_anonymous(client, user, other_user, server):
    snapshot = captured(user, server.url("/with-icon"))

    assert client.get(icon_url(snapshot)).status_code == 404
    # not even a 304: an ETag guessed right must not reveal the icon exists
    guessed = client.get(icon_url(snapshot), headers={"If-None-Match": "*"})
    assert guessed.status_code == 404
    client.force_login(other_user)
    assert client.get(icon_url(snapshot)).status_code == 404
    assert client.get(f"/snapshots/{snapshot.pk + 1000}/icon/").status_code == 404
    client.force_login(user)
    assert client.get(icon_url(snapshot)).status_code == 200


@pytest.mark.django_db
def test_a_public_links_icon_is_served_to_anyone(client, user, server):
    snapshot = captured(user, server.url("/with-icon"), private=False)

    assert f'<img class="favicon" src="{icon_url(snapshot)}"' in library_html(client)
    response = client.get(icon_url(snapshot))
    assert response.status_code == 200
    assert response.content == ICON


@pytest.mark.django_db
def test_a_page_without_an_icon_keeps_the_letter_avatar(client, user, server):
    snapshot = captured(user, server.url("/without-icon"))
    assert snapshot.icon_sha256 == ""

    client.force_login(user)
    html = library_html(client)
    assert 'class="favicon"' not in html
    assert re.search(r'<span class="avatar avatar--\d" aria-hidden="true">1</span>', html)
    assert client.get(icon_url(snapshot)).status_code == 404


@pytest.mark.django_db
def test_a_link_never_captured_keeps_the_letter_avatar(client, user):
    Link.objects.create(
        owner=user, url="https://example.org/", normalized_url="https://example.org/"
    )
    client.force_login(user)
    html = library_html(client)
    assert 'class="favicon"' not in html
    assert re.search(r'<span class="avatar avatar--\d" aria-hidden="true">E</span>', html)


@pytest.mark.django_db
def test_an_svg_icon_is_served_sandboxed(client, user, server):
    snapshot = captured(user, server.url("/svg-icon"))
    assert snapshot.icon_sha256 == hashlib.sha256(SVG_ICON).hexdigest()

    client.force_login(user)
    response = client.get(icon_url(snapshot))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response["Content-Security-Policy"] == ICON_CSP
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_an_icon_blob_that_is_not_an_image_is_not_served(client, user, server):
    snapshot = captured(user, server.url("/with-icon"))
    Blob.objects.filter(sha256=snapshot.icon_sha256).update(content_type="text/html")

    client.force_login(user)
    assert client.get(icon_url(snapshot)).status_code == 404


@pytest.mark.django_db
def test_an_icon_whose_file_is_gone_is_404_not_500(client, user, server, tmp_path):
    snapshot = captured(user, server.url("/with-icon"))
    for path in (tmp_path / "blobs").rglob(snapshot.icon_sha256 + "*"):
        path.unlink()

    client.force_login(user)
    assert client.get(icon_url(snapshot)).status_code == 404


# --- which asset is the icon (the inliner alone) -------------------------------------------------


def test_plain_icons_come_before_apple_touch_icons_and_broken_ones_are_skipped():
    web = fake_web(
        {
            "http://site.test/touch.gif": ("image/gif", TOUCH_ICON),
            "http://site.test/icon.png": ("image/png", ICON),
        }
    )
    head = (
        '<link rel="apple-touch-icon" href="/touch.gif">'
        '<link rel="icon" href="/missing.png">'
        '<link rel="icon" href="/icon.png">'
    )
    archive = inline(page(head).decode(), "http://site.test/", web)
    assert archive.icon == hashlib.sha256(ICON).hexdigest()
    assert archive.icon in archive.assets

    only_touch = inline(
        page('<link rel="apple-touch-icon" href="/touch.gif">').decode(), "http://site.test/", web
    )
    assert only_touch.icon == hashlib.sha256(TOUCH_ICON).hexdigest()


def test_an_icon_that_is_no_image_or_a_data_url_is_not_recorded():
    web = fake_web({"http://site.test/icon.png": ("text/html", b"<!doctype html><p>nope</p>")})
    archive = inline(page('<link rel="icon" href="/icon.png">').decode(), "http://site.test/", web)
    assert archive.icon == ""
    assert archive.assets == {}

    data = inline(
        page('<link rel="icon" href="data:image/gif;base64,R0lGODlhAQABAAAAACw=">').decode(),
        "http://site.test/",
        web,
    )
    assert data.icon == ""


@pytest.mark.django_db
def test_the_link_page_shows_the_icon_next_to_its_title(client, user, server):
    snapshot = captured(user, server.url("/with-icon"))
    without = captured(user, server.url("/without-icon"))

    client.force_login(user)
    html = client.get(reverse("snapshots:link_detail", args=[snapshot.link_id])).content.decode()
    assert f'<h1><img class="favicon favicon--title" src="{icon_url(snapshot)}" alt=""' in html
    html = client.get(reverse("snapshots:link_detail", args=[without.link_id])).content.decode()
    assert 'class="favicon' not in html
