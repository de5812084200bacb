"""The capture engine in the site: asked for through the API and the link page, recorded on the
snapshot, its screenshot served like the archive, kept, checked, collected and backed up with it.
"""

from __future__ import annotations

import io
import json
import os

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from kb.models import ApiToken
from snapshots.models import Blob, Link, Snapshot
from snapshots.services.archives import blob_store, snapshot_delete, snapshots_scrub
from snapshots.services.links import link_create
from tests.support.capture import capture_from
from tests.support.images import png
from tests.support.servers import LocalHTTPServer

pytestmark = [pytest.mark.network, pytest.mark.django_db(transaction=True)]

HTML = {"Content-Type": "text/html; charset=utf-8"}
CARD = png(6, 6, (10, 120, 200))
APP = b"""<!DOCTYPE html><html><head><title>App page</title></head><body><div id="root"></div>
<script>document.getElementById("root").innerHTML = "<h1>Built here</h1><p>By the script.</p>";
</script></body></html>"""


@pytest.fixture
def origin(settings, tmp_path):
    with LocalHTTPServer() as server:
        server.route("/app.html", body=APP, headers=HTML)
        server.route("/card.png", body=CARD, headers={"Content-Type": "image/png"})
        card = server.url("/card.png")
        server.route(
            "/article.html",
            body=(
                f'<!DOCTYPE html><title>Article</title><meta property="og:image" content="{card}">'
                f"<h1>Article</h1><p>{'Plain words. ' * 40}</p>"
            ).encode(),
            headers=HTML,
        )
        capture_from(settings, server, tmp_path)
        settings.KB_CAPTURE_FETCH_OPTIONS = {"connect_timeout": 2.0, "read_timeout": 5.0}
        yield server


@pytest.fixture
def ada(user):
    return Client(headers={"Authorization": f"Bearer {ApiToken.issue(user)[1]}"})


def capture_by_api(client, link, body=None):
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body else {}
    return client.post(f"/api/links/{link.pk}/capture", **kwargs)


def new_link(user, url):
    link, _ = link_create(owner=user, url=url, capture=False)
    return link


@pytest.mark.browser
def test_api_capture_with_the_browser_engine_answers_engine_and_screenshot_url(
    ada, user, origin, chromium
):
    link = new_link(user, origin.url("/app.html"))
    response = capture_by_api(ada, link, {"engine": "browser"})
    assert response.status_code == 202
    snapshot = ada.get(f"/api/snapshots/{response.json()['id']}").json()
    assert snapshot["status"] == "succeeded", snapshot["error"]
    assert snapshot["engine"] == "browser"
    assert "Built here" in snapshot["text"]
    assert snapshot["screenshot_url"] == f"/snapshots/{snapshot['id']}/screenshot/"

    picture = ada.get(snapshot["screenshot_url"])
    assert picture.status_code == 200
    assert picture["Content-Type"] == "image/jpeg"
    assert picture["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in picture["Content-Security-Policy"]
    assert picture["Cache-Control"].startswith("private")
    assert Client().get(snapshot["screenshot_url"]).status_code == 404  # a private link's

    archive = ada.get(snapshot["archive_url"]).content.decode()
    assert "Built here" in archive
    assert "<script" not in archive.lower()


def test_api_static_capture_uses_the_og_image_and_says_static(ada, user, origin):
    link = new_link(user, origin.url("/article.html"))
    response = capture_by_api(ada, link, {"engine": "static"})
    snapshot = ada.get(f"/api/snapshots/{response.json()['id']}").json()
    assert snapshot["engine"] == "static"
    picture = ada.get(snapshot["screenshot_url"])
    assert picture["Content-Type"] == "image/png"
    assert picture.content == CARD


def test_api_capture_without_a_body_follows_the_setting(ada, user, origin, settings):
    settings.KB_CAPTURE_ENGINE = "static"
    link = new_link(user, origin.url("/app.html"))
    response = capture_by_api(ada, link)
    assert response.status_code == 202
    assert Snapshot.objects.get(pk=response.json()["id"]).engine == "static"


@pytest.mark.parametrize(
    ("body", "status"),
    [({"engine": "chrome"}, 422), ({"engine": 3}, 422), ([1], 422), ("{oops", 400)],
)
def test_api_refuses_an_unknown_engine_with_a_sentence(ada, user, origin, body, status):
    link = new_link(user, origin.url("/app.html"))
    data = body if isinstance(body, str) else json.dumps(body)
    response = ada.post(f"/api/links/{link.pk}/capture", data=data, content_type="application/json")
    assert response.status_code == status
    assert response.json()["error"]
    assert not link.snapshots.exists()


def test_api_refuses_the_browser_engine_when_the_server_has_no_chromium(
    ada, user, origin, settings, tmp_path
):
    settings.KB_CHROMIUM = str(tmp_path / "no-chromium")
    link = new_link(user, origin.url("/app.html"))
    response = capture_by_api(ada, link, {"engine": "browser"})
    assert response.status_code == 422
    assert "no Chromium" in response.json()["error"]
    # auto still works: statically
    response = capture_by_api(ada, link, {"engine": "auto"})
    assert Snapshot.objects.get(pk=response.json()["id"]).engine == "static"


@pytest.mark.browser
def test_link_page_recaptures_with_the_chosen_engine_and_shows_the_screenshot(
    client, user, origin, chromium
):
    client.force_login(user)
    link = new_link(user, origin.url("/app.html"))
    page = client.get(reverse("snapshots:link_detail", args=[link.pk])).content.decode()
    assert 'name="engine"' in page
    assert "The browser engine is off" not in page

    client.post(reverse("snapshots:link_capture", args=[link.pk]), {"engine": "browser"})
    snapshot = link.snapshots.get()
    assert (snapshot.requested_engine, snapshot.engine) == ("browser", "browser")
    page = client.get(reverse("snapshots:link_detail", args=[link.pk])).content.decode()
    assert reverse("snapshots:snapshot_screenshot", args=[snapshot.pk]) in page
    assert "rendered by the browser" in page


def test_link_page_says_the_browser_engine_is_off_without_chromium(
    client, user, origin, settings, tmp_path
):
    settings.KB_CHROMIUM = str(tmp_path / "no-chromium")
    client.force_login(user)
    link = new_link(user, origin.url("/app.html"))
    page = client.get(reverse("snapshots:link_detail", args=[link.pk])).content.decode()
    assert "The browser engine is off" in page
    response = client.post(
        reverse("snapshots:link_capture", args=[link.pk]), {"engine": "browser"}, follow=True
    )
    assert "no Chromium was found" in response.content.decode()
    client.post(reverse("snapshots:link_capture", args=[link.pk]), {"engine": "nonsense"})
    assert not link.snapshots.exists()

    health = client.get("/healthz").json()
    assert health["browser"]["available"] is False


def test_the_screenshot_is_kept_checked_and_collected_with_its_snapshot(
    ada, user, origin, settings, tmp_path
):
    link = new_link(user, origin.url("/article.html"))
    response = capture_by_api(ada, link, {"engine": "static"})
    snapshot = Snapshot.objects.get(pk=response.json()["id"])
    sha = snapshot.screenshot_sha256
    assert snapshot.blobs.filter(sha256=sha).exists()  # referenced like any of its files
    assert snapshots_scrub().broken == []

    os.unlink(blob_store().storage.path(f"{sha[:2]}/{sha[2:4]}/{sha}"))
    broken = snapshots_scrub().broken
    assert [b.snapshot_id for b in broken] == [snapshot.pk]
    assert sha in broken[0].missing

    snapshot_delete(snapshot=snapshot)
    assert not Blob.objects.filter(sha256=sha).exists()


def test_backup_and_restore_carry_the_screenshot(ada, user, other_user, origin, tmp_path):
    link = new_link(user, origin.url("/article.html"))
    capture_by_api(ada, link, {"engine": "static"})
    backup = tmp_path / "library.zip"
    call_command("backup", str(backup), "--user", user.username, verbosity=0)
    call_command(
        "restore",
        str(backup),
        "--user",
        other_user.username,
        "--no-capture",
        stdout=io.StringIO(),
    )
    restored = Snapshot.objects.get(link__owner=other_user)
    assert restored.screenshot_sha256
    assert restored.engine == "static"
    client = Client()
    client.force_login(other_user)
    picture = client.get(reverse("snapshots:snapshot_screenshot", args=[restored.pk]))
    assert picture.content == CARD
    assert Link.objects.filter(owner=other_user).count() == 1


@pytest.mark.browser
def test_capture_command_takes_an_engine(user, origin, chromium, settings):
    settings.KB_CAPTURE_ENGINE = "static"
    user.is_superuser = True
    user.save()
    url = origin.url("/app.html")
    call_command("capture", url, "--engine", "browser", stdout=io.StringIO())
    snapshot = Snapshot.objects.get(link__url=url)
    assert (snapshot.requested_engine, snapshot.engine) == ("browser", "browser")
    assert "Built here" in snapshot.text


@pytest.mark.browser
def test_auto_renders_script_built_pages_and_keeps_others_static(
    ada, user, origin, chromium, settings
):
    settings.KB_CAPTURE_ENGINE = "auto"
    app = new_link(user, origin.url("/app.html"))
    article = new_link(user, origin.url("/article.html"))
    app_snapshot = capture_by_api(ada, app).json()
    article_snapshot = capture_by_api(ada, article).json()
    assert ada.get(f"/api/snapshots/{app_snapshot['id']}").json()["engine"] == "browser"
    assert ada.get(f"/api/snapshots/{article_snapshot['id']}").json()["engine"] == "static"
