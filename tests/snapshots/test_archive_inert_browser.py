"""An archive opened from disk — a download, a page of the zip export — runs nothing and fetches
nothing: Chromium opens each file from file:// and a listener on 127.0.0.1 counts connections.

Two walls are checked outside the site's sandbox: what the capture stripped (as a browser parses
the page: foreign content, template contents, CSS escapes) and the file's own CSP ``<meta>``,
which also covers archives stored before it existed.
"""

import io
import zipfile

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from snapshots.models import Snapshot
from tests.support.capture import captured, stored_archive
from tests.support.servers import LocalHTTPServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

# ELSEWHERE is the listener's address: any connection to it is a failure
HOSTILE = r"""<!DOCTYPE html>
<html><head><title>Inert page</title>
<script>document.title = "pwned by script"</script>
<style>@\69mport "ELSEWHERE/escaped-import.css";
body{background:u\72l(ELSEWHERE/escaped-url.png)}
h1{background-image:image-\73 et("ELSEWHERE/escaped-image-set.png" 1x)}</style>
</head>
<body>
<h1 id="heading">Static content stays</h1>
<svg><style><img src="ELSEWHERE/svg-style.png" onerror="document.title='pwned by svg style'"></style></svg>
<math><style><meta http-equiv="refresh" content="0; url=ELSEWHERE/math-refresh"></style></math>
<svg><style>&lt;img src="ELSEWHERE/entity.png" onerror="document.title='pwned by entity'"&gt;</style></svg>
<noscript><p title="</noscript><img src=x onerror=document.title='pwned_by_noscript'>"></p></noscript>
<div id="host"><template shadowrootmode="open"><p>shadow text</p>
<img src="ELSEWHERE/shadow.png" onerror="document.title='pwned by shadow root'"></template></div>
<p style="background:\75rl(ELSEWHERE/escaped-attribute.png)">Plain words that must still be shown.</p>
<svg width="10" height="10"><rect width="10" height="10" fill="URL(ELSEWHERE/fill.svg#p)"/></svg>
<img src="/nowhere.png" onerror="document.title='pwned by onerror'">
</body></html>
"""

# what a capture before the fix stored: stripped by libxml2's reading, without its own CSP
STORED_BEFORE = r"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Inert page</title>
<style>body{background:u\72l(ELSEWHERE/escaped-url.png)}</style></head>
<body><h1 id="heading">Static content stays</h1>
<p>Plain words that must still be shown.</p>
<svg><style><img src="ELSEWHERE/svg-style.png" onerror="document.title='pwned by svg style'"></style></svg>
</body></html>
"""


def downloaded_and_exported(client, user, snapshot: Snapshot) -> dict[str, bytes]:
    """The single file as the download gives it and as the zip export holds it."""
    client.force_login(user)
    download = client.get(reverse("snapshots:snapshot_download", args=[snapshot.pk]))
    assert download.status_code == 200
    export = client.get(reverse("snapshots:links_export"), {"format": "zip"})
    assert export.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(export.streaming_content))) as archive:
        [name] = [n for n in archive.namelist() if n.startswith("archives/")]
        exported = archive.read(name)
    return {"download": download.content, "export": exported}


def assert_inert_from_disk(
    browser, files: dict[str, bytes], tmp_path, elsewhere, stripped: bool = True
) -> None:
    """Nothing runs; nothing is requested but the file itself (when the capture `stripped` the
    page), or every other request is refused by the file's own CSP before it leaves."""
    for kind, body in files.items():
        path = tmp_path / f"{kind}.html"
        path.write_bytes(body)
        context = browser.new_context()
        page = context.new_page()
        requested, refused = [], []
        page.on("request", lambda request, seen=requested: seen.append(request.url))
        page.on("requestfailed", lambda request, seen=refused: seen.append(request.failure))
        page.goto(path.as_uri())
        expect(page.locator("#heading")).to_have_text("Static content stays")
        expect(page.get_by_text("Plain words that must still be shown.")).to_be_visible()
        page.wait_for_timeout(1000)  # room for an error handler, a refresh, a late fetch
        assert page.title() == "Inert page", kind
        others = [url for url in requested if not url.startswith(("data:", path.as_uri()))]
        if stripped:
            assert others == [], kind
        else:
            assert refused == ["csp"] * len(others), kind  # Chromium: blocked by CSP
        context.close()
    assert elsewhere.connection_count == 0
    assert elsewhere.bytes_received == 0


def test_a_captured_hostile_page_is_inert_when_downloaded_or_exported(
    browser, client, user, elsewhere, capture_settings, tmp_path
):
    hostile = HOSTILE.replace("ELSEWHERE", f"http://127.0.0.1:{elsewhere.port}")
    with LocalHTTPServer() as origin:
        origin.route("/hostile.html", body=hostile.encode(), headers={"Content-Type": "text/html"})
        capture_settings.KB_FETCH_ALLOW_HOSTS = [f"127.0.0.1:{origin.port}"]
        snapshot = captured(user, origin.url("/hostile.html"))
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error

    files = downloaded_and_exported(client, user, snapshot)
    assert_inert_from_disk(browser, files, tmp_path, elsewhere)
    for body in files.values():
        assert b'<meta http-equiv="Content-Security-Policy"' in body


def test_an_archive_stored_before_its_own_csp_is_inert_when_downloaded_or_exported(
    browser, client, user, elsewhere, capture_settings, tmp_path
):
    raw = STORED_BEFORE.replace("ELSEWHERE", f"http://127.0.0.1:{elsewhere.port}").encode()
    snapshot = stored_archive(user, raw, "Inert page")

    files = downloaded_and_exported(client, user, snapshot)
    assert_inert_from_disk(browser, files, tmp_path, elsewhere, stripped=False)
