"""Serving archives: exact headers, who may see them, the download name, the site pages around them."""

import base64
import datetime as dt

import pytest
from django.utils import timezone

from snapshots.models import Blob, Link, Snapshot
from snapshots.services.archives import blob_store

pytestmark = pytest.mark.django_db

ARCHIVE_CSP = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline' data:; font-src data:; "
    "media-src data:"
)
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def stored_snapshot(link, html, assets=(), content_type="text/html;charset=utf-8", **fields):
    """A succeeded snapshot whose skeleton and assets are really in the blob store."""
    store = blob_store()
    shas = []
    for body, kind in [
        *assets,
        (html.encode("utf-8") if isinstance(html, str) else html, content_type),
    ]:
        sha, _ = store.put(body)
        Blob.objects.get_or_create(sha256=sha, defaults={"size": len(body), "content_type": kind})
        shas.append(sha)
    snapshot = Snapshot.objects.create(
        link=link,
        status=Snapshot.Status.SUCCEEDED,
        content_type=content_type,
        archive_id=shas[-1],
        finished=timezone.make_aware(dt.datetime(2026, 3, 14, 9, 30)),
        **fields,
    )
    snapshot.blobs.set(shas)
    Link.objects.filter(pk=link.pk).update(latest_snapshot=snapshot)
    return snapshot


@pytest.fixture
def private_link(user):
    return Link.objects.create(
        owner=user, url="https://example.org/a", normalized_url="https://example.org/a"
    )


@pytest.fixture
def public_link(user):
    return Link.objects.create(
        owner=user,
        url="https://example.org/b",
        normalized_url="https://example.org/b",
        private=False,
    )


@pytest.fixture
def page_snapshot(private_link):
    sha = blob_store().put(PIXEL)[0]
    html = f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>T</title></head><body><h1>Hello</h1><img src="kb-asset:{sha}"></body></html>'
    return stored_snapshot(
        private_link, html, assets=[(PIXEL, "image/png")], title='A: page/with "odd" name'
    )


def test_archive_is_served_with_the_exact_sandbox_headers(client, user, page_snapshot):
    client.force_login(user)
    response = client.get(f"/archive/{page_snapshot.pk}/")
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == ARCHIVE_CSP
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "Content-Security-Policy-Report-Only" not in response


def test_archive_is_the_assembled_single_file(client, user, page_snapshot):
    client.force_login(user)
    body = client.get(f"/archive/{page_snapshot.pk}/").content.decode()
    assert "<h1>Hello</h1>" in body
    assert "kb-asset:" not in body
    assert "data:image/png;base64," + base64.b64encode(PIXEL).decode() in body


def test_private_archive_is_visible_to_its_owner_only(client, user, other_user, page_snapshot):
    url = f"/archive/{page_snapshot.pk}/"
    assert client.get(url).status_code == 404  # anonymous
    client.force_login(other_user)
    assert client.get(url).status_code == 404
    client.force_login(user)
    assert client.get(url).status_code == 200


def test_public_archive_is_visible_to_everyone(client, other_user, public_link):
    snapshot = stored_snapshot(public_link, "<html><body><p>open</p></body></html>")
    assert client.get(f"/archive/{snapshot.pk}/").status_code == 200
    client.force_login(other_user)
    assert client.get(f"/archive/{snapshot.pk}/").status_code == 200


def test_api_clients_follow_archive_url_with_their_bearer_token(client, api_token, page_snapshot):
    url = f"/archive/{page_snapshot.pk}/"
    assert client.get(url, headers={"Authorization": f"Bearer {api_token}"}).status_code == 200
    assert client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_a_wrong_token_is_refused_by_every_stored_file_not_served_as_anonymous(client, public_link):
    # A public archive is open to anyone, but a client that sends a wrong token must learn that
    # its token is wrong (401, as the API says), not quietly get the anonymous view.
    snapshot = stored_snapshot(public_link, "<html><body><p>open</p></body></html>")
    for path in (f"/archive/{snapshot.pk}/", f"/snapshots/{snapshot.pk}/download/"):
        response = client.get(path, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401, path
        assert response["WWW-Authenticate"] == "Bearer"
        assert client.get(path).status_code == 200


def test_archive_of_an_unfinished_or_failed_snapshot_is_not_found(client, user, private_link):
    client.force_login(user)
    pending = Snapshot.objects.create(link=private_link)
    failed = Snapshot.objects.create(link=private_link, status=Snapshot.Status.FAILED, error="x")
    assert client.get(f"/archive/{pending.pk}/").status_code == 404
    assert client.get(f"/archive/{failed.pk}/").status_code == 404
    assert client.get("/archive/999999/").status_code == 404


def test_a_pdf_is_served_as_stored_under_the_same_sandbox(client, user, private_link):
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    snapshot = stored_snapshot(
        private_link, pdf, content_type="application/pdf", title="report.pdf"
    )
    client.force_login(user)
    response = client.get(f"/archive/{snapshot.pk}/")
    assert response.content == pdf
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Security-Policy"] == ARCHIVE_CSP
    view = client.get(f"/snapshots/{snapshot.pk}/view/").content.decode()
    assert "Download the PDF" in view
    assert "<iframe" not in view
    download = client.get(f"/snapshots/{snapshot.pk}/download/")
    assert 'filename="report.pdf 2026-03-14.pdf"' in download["Content-Disposition"]


def test_download_is_an_attachment_named_after_title_and_date(client, user, page_snapshot):
    client.force_login(user)
    response = client.get(f"/snapshots/{page_snapshot.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        'attachment; filename="A page with odd name 2026-03-14.html"; '
        "filename*=UTF-8''A%20page%20with%20odd%20name%202026-03-14.html"
    )
    assert response["Content-Security-Policy"] == ARCHIVE_CSP
    assert b"<h1>Hello</h1>" in response.content


def test_download_without_a_title_is_named_after_the_domain(client, user, private_link):
    snapshot = stored_snapshot(private_link, "<html><body>x</body></html>")
    client.force_login(user)
    response = client.get(f"/snapshots/{snapshot.pk}/download/")
    assert 'filename="example.org 2026-03-14.html"' in response["Content-Disposition"]


def test_download_name_keeps_chinese_titles(client, user, private_link):
    snapshot = stored_snapshot(private_link, "<html><body>x</body></html>", title="深度学习 入门")
    client.force_login(user)
    disposition = client.get(f"/snapshots/{snapshot.pk}/download/")["Content-Disposition"]
    assert (
        "filename*=UTF-8''%E6%B7%B1%E5%BA%A6%E5%AD%A6%E4%B9%A0%20%E5%85%A5%E9%97%A8%202026-03-14.html"
        in disposition
    )


def test_view_page_embeds_the_archive_in_a_sandboxed_iframe(client, user, page_snapshot):
    client.force_login(user)
    response = client.get(f"/snapshots/{page_snapshot.pk}/view/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'sandbox src="/archive/{page_snapshot.pk}/"' in html
    assert f'href="/snapshots/{page_snapshot.pk}/reader/"' not in html  # no text, no reader link
    assert f'href="/snapshots/{page_snapshot.pk}/download/"' in html
    assert 'href="https://example.org/a"' in html
    assert f'href="/links/{page_snapshot.link_id}/"' in html
    assert "Captured" in html
    # The site page keeps the site's CSP, not the archive's.
    assert "sandbox" not in response["Content-Security-Policy"]
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_view_page_of_a_failed_capture_says_why(client, user, private_link):
    snapshot = Snapshot.objects.create(
        link=private_link, status=Snapshot.Status.FAILED, error="the server answered 404 Not Found"
    )
    client.force_login(user)
    html = client.get(f"/snapshots/{snapshot.pk}/view/").content.decode()
    assert "the server answered 404 Not Found" in html
    assert "<iframe" not in html


def test_site_pages_follow_the_links_visibility(client, other_user, page_snapshot, public_link):
    for page in ("view", "reader"):
        assert client.get(f"/snapshots/{page_snapshot.pk}/{page}/").status_code == 404
    client.force_login(other_user)
    assert client.get(f"/snapshots/{page_snapshot.pk}/view/").status_code == 404
    assert client.get(f"/snapshots/{page_snapshot.pk}/download/").status_code == 404
    public = stored_snapshot(public_link, "<html><body>x</body></html>")
    client.logout()
    assert client.get(f"/snapshots/{public.pk}/view/").status_code == 200
    assert client.get(f"/snapshots/{public.pk}/download/").status_code == 200


def test_reader_shows_the_text_with_byline_and_a_guessed_date(client, user, private_link):
    snapshot = stored_snapshot(
        private_link,
        "<html><body>x</body></html>",
        title="On entropy",
        author="Claude Shannon",
        published=dt.date(1948, 7, 1),
        published_is_guess=True,
        text="Information is the resolution of uncertainty.",
        reader_html='<h1>On  entropy</h1><p>Information is <b onclick="alert(1)">the resolution</b> of uncertainty.</p><script>alert(2)</script>',
    )
    client.force_login(user)
    html = client.get(f"/snapshots/{snapshot.pk}/reader/").content.decode()
    assert html.count("On entropy") == 2  # the page title and the heading, not the text's copy
    assert "By Claude Shannon" in html
    assert "published, a guess" in html
    assert "<b>the resolution</b>" in html
    assert "onclick" not in html
    assert "alert(2)" not in html


def test_reader_falls_back_to_the_plain_text(client, user, private_link):
    snapshot = stored_snapshot(private_link, "<html></html>", text="first line\n\nsecond <para>")
    client.force_login(user)
    html = client.get(f"/snapshots/{snapshot.pk}/reader/").content.decode()
    assert "second &lt;para&gt;" in html
