"""Pictures in the library and the reader: the page's lead image (og:image) and the article's
images are kept at capture, served by kb from the snapshot's own blobs under the archive's access
rules, and the reader shows those copies, never the live site's addresses.
"""

import hashlib
import re

import pytest
from django.urls import reverse

from kb.models import UserSettings
from snapshots.capture.reader import reader_with_stored_images
from snapshots.models import Link, Snapshot
from snapshots.tasks import capture_snapshot, snapshot_request
from tests.support.capture import capture_from
from tests.support.images import gif, png
from tests.support.servers import LocalHTTPServer

LEAD = png(40, 20, (10, 120, 200))
FIGURE = gif((200, 60, 10))
PARAGRAPH = (
    "Slow water runs under the old bridge every spring, and the people of the valley come to watch "
    "it carry the last ice down to the lake. "
)


def article(head: str, body: str) -> bytes:
    return (
        f"<!doctype html><html><head><title>Slow water</title>{head}</head><body><article>"
        f"<h1>Slow water</h1><p>{PARAGRAPH * 3}</p>{body}<p>{PARAGRAPH * 2}</p>"
        "</article></body></html>"
    ).encode()


@pytest.fixture
def server():
    with LocalHTTPServer() as server:
        html = {"Content-Type": "text/html; charset=utf-8"}
        server.route(
            "/story",
            body=article(
                '<meta property="og:image" content="/lead.png">',
                '<p><img src="/figure.gif" alt="the bridge"></p>'
                '<p><img src="/gone.png" alt="a missing picture"></p>',
            ),
            headers=html,
        )
        server.route("/plain", body=article("", ""), headers=html)
        server.route("/lead.png", body=LEAD, headers={"Content-Type": "image/png"})
        server.route("/figure.gif", body=FIGURE, headers={"Content-Type": "image/gif"})
        yield server


@pytest.fixture(autouse=True)
def capture_settings(settings, server, tmp_path):
    return capture_from(settings, server, tmp_path)


def captured(user, url: str, private: bool = True) -> Snapshot:
    link = Link.objects.create(owner=user, url=url, normalized_url=url, private=private)
    snapshot = snapshot_request(link=link, enqueue=False)
    capture_snapshot.enqueue(snapshot.pk)
    snapshot.refresh_from_db()
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    return snapshot


def image_url(snapshot: Snapshot, sha: str) -> str:
    return reverse("snapshots:snapshot_image", args=[snapshot.pk, sha])


@pytest.mark.django_db
def test_the_lead_image_is_the_rows_lazy_thumbnail_served_from_the_snapshot(client, user, server):
    snapshot = captured(user, server.url("/story"))
    assert snapshot.image_sha256 == hashlib.sha256(LEAD).hexdigest()
    client.force_login(user)

    html = client.get(reverse("snapshots:library")).content.decode()
    thumb = image_url(snapshot, snapshot.image_sha256)
    assert (
        f'<img class="link-row__thumb" src="{thumb}" alt="" width="120" height="72" loading="lazy"'
        in html
    )
    response = client.get(thumb)
    assert response.status_code == 200
    assert response.content == LEAD
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["Cache-Control"] == "private, no-cache"


@pytest.mark.django_db
def test_pictures_follow_the_archives_access_rules(client, user, other_user, server):
    private = captured(user, server.url("/story"))
    thumb = image_url(private, private.image_sha256)
    assert client.get(thumb).status_code == 404  # a visitor: a private link's picture is unknown
    client.force_login(other_user)
    assert client.get(thumb).status_code == 404
    # a digest that is not one of this snapshot's images is not served, even to its owner
    client.force_login(user)
    assert client.get(image_url(private, "0" * 64)).status_code == 404
    assert client.get(image_url(private, private.archive_id)).status_code == 404  # the HTML
    assert client.get(thumb, headers={"Authorization": "Bearer wrong"}).status_code == 401


@pytest.mark.django_db
def test_the_compact_view_is_remembered_and_shows_no_pictures(client, user, server):
    captured(user, server.url("/story"))
    client.force_login(user)
    library = reverse("snapshots:library")
    assert 'class="link-row__thumb"' in client.get(library).content.decode()

    answer = client.post(
        reverse("library_view"), {"view": "compact", "next": library + "?sort=title"}
    )
    assert answer.status_code == 302
    assert answer["Location"] == library + "?sort=title"
    assert UserSettings.objects.get(user=user).library_view == "compact"
    html = client.get(library).content.decode()
    assert 'class="link-row__thumb"' not in html
    assert "link-list--compact" in html
    # somewhere else is never a place to go back to
    answer = client.post(
        reverse("library_view"), {"view": "visual", "next": "https://evil.example/"}
    )
    assert answer["Location"] == library
    assert 'class="link-row__thumb"' in client.get(library).content.decode()


@pytest.mark.django_db
def test_a_link_without_a_lead_image_has_no_thumbnail(client, user, server):
    snapshot = captured(user, server.url("/plain"))
    assert snapshot.image_sha256 == ""
    client.force_login(user)
    assert (
        'class="link-row__thumb"' not in client.get(reverse("snapshots:library")).content.decode()
    )


@pytest.mark.django_db
def test_the_reader_shows_the_kept_images_and_drops_the_rest(client, user, server):
    snapshot = captured(user, server.url("/story"))
    client.force_login(user)
    html = client.get(reverse("snapshots:snapshot_reader", args=[snapshot.pk])).content.decode()
    figure = image_url(snapshot, hashlib.sha256(FIGURE).hexdigest())
    assert f'src="{figure}"' in html
    assert 'alt="the bridge"' in html
    assert "a missing picture" not in html  # its image failed: no broken picture
    # nothing the browser would fetch from the live site
    assert not re.search(r'<img[^>]+src="https?://', html)
    assert client.get(figure).content == FIGURE


@pytest.mark.django_db
def test_a_reader_captured_before_images_were_kept_shows_none_of_its_live_ones(
    client, user, server
):
    snapshot = captured(user, server.url("/plain"))
    Snapshot.objects.filter(pk=snapshot.pk).update(
        reader_html=f'<p>Text</p><p><img src="{server.url("/figure.gif")}" alt="live"></p>'
    )
    client.force_login(user)
    html = client.get(reverse("snapshots:snapshot_reader", args=[snapshot.pk])).content.decode()
    assert "<p>Text</p>" in html
    assert 'alt="live"' not in html


def test_layout_tables_are_taken_apart_and_their_navigation_left_out():
    nav = "".join(f'<a href="/s{i}">栏目{i}</a> ' for i in range(6))
    html = (
        f"<table><tr><td>{nav}</td></tr><tr><td><h2>正文标题</h2><p>这是文章的正文。</p>"
        '<p>还有<a href="/x">一个链接</a>。</p></td></tr></table>'
        "<table><tr><th>年份</th><th>数量</th></tr><tr><td>2024</td><td>3</td></tr></table>"
    )
    out = reader_with_stored_images(html, "https://example.cn/", {})
    assert "栏目" not in out
    assert "<h2>正文标题</h2>" in out
    assert "这是文章的正文。" in out
    assert "一个链接" in out
    assert out.count("<table>") == 1  # the data table stays a table
    assert "<td>2024</td>" in out


def test_reader_images_point_at_the_kept_copy_by_absolute_address():
    html = '<p>a<img src="/i.png" alt="x">b<img src="https://cdn.example/j.png#v">c</p>'
    out = reader_with_stored_images(
        html, "https://example.org/post", {"https://example.org/i.png": "a" * 64}
    )
    assert out == f'<p>a<img src="kb-asset:{"a" * 64}" alt="x">bc</p>'


@pytest.mark.django_db
def test_a_failed_recapture_keeps_the_rows_pictures(client, user, server):
    snapshot = captured(user, server.url("/story"))
    server.route("/story", status=404, body=b"gone")
    again = snapshot_request(link=Link.objects.get(pk=snapshot.link_id), enqueue=False)
    capture_snapshot.enqueue(again.pk)
    again.refresh_from_db()
    assert again.status == Snapshot.Status.FAILED
    client.force_login(user)
    html = client.get(reverse("snapshots:library")).content.decode()
    assert f'src="{image_url(snapshot, snapshot.image_sha256)}"' in html
    assert f'src="/snapshots/{snapshot.pk}/icon/"' not in html  # the story has no icon
    assert "badge--failed" in html
    assert ">Slow water</a>" in html
