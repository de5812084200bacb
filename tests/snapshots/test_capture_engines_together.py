"""The static pass, the browser and the inline step of one capture, together: a frame its script
fills is archived as the browser showed it, and no file of the page is downloaded twice.

Pages are served on 127.0.0.1 by a test server that counts every request. Chromium is Debian's;
without it these tests skip (and fail in CI).
"""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter
from dataclasses import replace

import lxml.html
import pytest

from snapshots.capture.assets import AssetFetcher
from snapshots.capture.browser import ResponseCache
from snapshots.capture.engines import capture
from snapshots.capture.errors import CaptureError
from snapshots.capture.fetch import fetch
from snapshots.capture.pipeline import default_policy, single_file
from tests.support.images import png
from tests.support.servers import LocalHTTPServer

pytestmark = [pytest.mark.browser, pytest.mark.network]

HTML = {"Content-Type": "text/html; charset=utf-8"}
LOGO = png(4, 4, (200, 30, 30))
BUILT = png(5, 5, (30, 200, 30))
BACKDROP = png(6, 6, (30, 30, 200))
INSIDE = png(7, 7, (200, 200, 30))


@pytest.fixture
def site():
    with LocalHTTPServer() as server:
        yield server


def data_uri(body: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(body).decode("ascii")


def archived(server, path: str, chromium: str, engine: str):
    policy = default_policy(allow_hosts=[f"127.0.0.1:{server.port}"], seconds=40.0)
    captured = capture(server.url(path), policy, engine=engine, chromium=chromium)
    return captured, single_file(captured.archive)


def stored(captured) -> list[bytes]:
    """The files the archive keeps (a stylesheet's pictures are inside its own data: URI)."""
    return [asset.body for asset in captured.archive.assets.values()]


def requested(server) -> Counter[str]:
    return Counter(request.path for request in server.requests)


# The shell is built by its script (an empty app root), so ``auto`` renders it after its static
# pass; the frame of the same site writes its own words and shows its picture only once its
# script ran.
SHELL = """<!DOCTYPE html><html><head><title>Shell</title></head><body>
<div id="root"></div>
<iframe src="/frame.html" width="320" height="140" title="Inside"></iframe>
<script>document.getElementById("root").innerHTML = "<h1>The shell, built by its script</h1>";</script>
</body></html>"""

FRAME = """<!DOCTYPE html><html><head><link rel="stylesheet" href="/frame.css"></head><body>
<p id="words"></p><img id="picture" alt="inside">
<script>
document.getElementById("words").textContent = "Written inside the frame by its script";
document.getElementById("picture").src = "/inside.png";
</script></body></html>"""


def serve_shell(server) -> None:
    server.route("/shell.html", body=SHELL.encode(), headers=HTML)
    server.route("/frame.html", body=FRAME.encode(), headers=HTML)
    server.route(
        "/frame.css", body=b"p { color: rgb(11, 12, 13); }", headers={"Content-Type": "text/css"}
    )
    server.route("/inside.png", body=INSIDE, headers={"Content-Type": "image/png"})


@pytest.mark.parametrize("engine", ["browser", "auto"])
def test_a_frame_its_script_fills_is_kept_as_the_browser_showed_it(site, chromium, engine):
    serve_shell(site)
    captured, page = archived(site, "/shell.html", chromium, engine)

    assert captured.engine == "browser"
    root = lxml.html.fromstring(page)
    frames = root.xpath("//iframe")
    assert len(frames) == 1, "the frame stays a frame, not a link"
    assert not root.xpath("//a[contains(@class, 'kb-embedded')]")
    frame = frames[0]
    assert frame.get("sandbox") == ""  # nothing in it runs
    assert frame.get("src") is None
    assert (frame.get("width"), frame.get("height")) == ("320", "140")
    inside = frame.get("srcdoc")
    assert "Written inside the frame by its script" in inside  # the rendered frame, not its source
    assert data_uri(INSIDE) in inside
    assert any(b"rgb(11, 12, 13)" in body for body in stored(captured))  # the frame's stylesheet
    # no script anywhere: not in the page, not in the frame's document
    assert "<script" not in page.lower()
    assert "&lt;script" not in page.lower()
    assert not lxml.html.fromstring(inside).xpath("//script")
    # the frame and its files were fetched once, by the browser (or the static pass before it)
    counts = requested(site)
    for path in ("/shell.html", "/frame.html", "/frame.css", "/inside.png"):
        assert counts[path] == 1, (path, counts)


def test_a_frame_behind_a_redirect_is_the_rendered_one_too(site, chromium):
    # The browser is handed the answer at the address the page named; the archive finds the
    # rendered frame under that address, not the source the redirect led to.
    serve_shell(site)
    site.route(
        "/shell.html", body=SHELL.replace('"/frame.html"', '"/moved"').encode(), headers=HTML
    )
    site.redirect("/moved", "/frame.html")
    _captured, page = archived(site, "/shell.html", chromium, "browser")
    (frame,) = lxml.html.fromstring(page).xpath("//iframe")
    assert "Written inside the frame by its script" in frame.get("srcdoc")
    assert "&lt;script" not in page.lower()
    assert requested(site)["/frame.html"] == 1


APP = """<!DOCTYPE html><html><head><title>App</title>
<link rel="stylesheet" href="/app.css"></head><body>
<div id="root"></div><img src="/logo.png" alt="logo">
<script>
fetch("/data.json").then((r) => r.json()).then((data) => {
  document.getElementById("root").innerHTML =
    "<h1>" + data.title + "</h1><img src='/built.png' alt='built'>";
});
</script></body></html>"""


def test_auto_renders_with_what_its_static_pass_downloaded(site, chromium):
    site.route("/app.html", body=APP.encode(), headers=HTML)
    site.route(
        "/app.css",
        body=b"body { background: url(/backdrop.png); } h1 { color: rgb(21, 22, 23); }",
        headers={"Content-Type": "text/css"},
    )
    site.route("/logo.png", body=LOGO, headers={"Content-Type": "image/png"})
    site.route("/backdrop.png", body=BACKDROP, headers={"Content-Type": "image/png"})
    site.route("/built.png", body=BUILT, headers={"Content-Type": "image/png"})
    site.route(
        "/data.json",
        body=b'{"title": "Built from JSON"}',
        headers={"Content-Type": "application/json"},
    )

    captured, page = archived(site, "/app.html", chromium, "auto")

    assert captured.engine == "browser"
    assert "Built from JSON" in page
    for picture in (LOGO, BUILT):
        assert data_uri(picture) in page
    assert BACKDROP in stored(captured)  # through the stylesheet
    assert any(b"rgb(21, 22, 23)" in body for body in stored(captured))
    assert "<script" not in page.lower()
    counts = requested(site)
    # the static pass fetched the page, its stylesheet and both pictures; the browser and the
    # inline step after it took them from the capture's cache and fetched only what scripts asked
    for path in ("/app.html", "/app.css", "/logo.png", "/backdrop.png", "/data.json", "/built.png"):
        assert counts[path] == 1, (path, counts)
    assert max(counts.values()) == 1, counts


class InFlight:
    """Pictures served slowly, counting how many were being answered at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def picture(self, body: bytes):
        def answer(request, server) -> None:
            with self._lock:
                self.now += 1
                self.most = max(self.most, self.now)
            server.stopping.wait(0.5)
            with self._lock:
                self.now -= 1
            request.send_response(200)
            request.send_header("Content-Type", "image/png")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)

        return answer


def test_files_the_browser_did_not_load_download_side_by_side_after_the_render(site, chromium):
    # A hover picture and rules no element matches: the browser never asks for their files, the
    # archive keeps them all (they are the stylesheet's), so the inline step downloads them.
    rules = "".join(f".unused-{n} {{ background: url(/unused-{n}.png); }}" for n in range(6))
    site.route("/page.css", body=rules.encode(), headers={"Content-Type": "text/css"})
    slow = InFlight()
    pictures = {n: png(8 + n, 8, (10 * n, 90, 90)) for n in range(6)}
    for n, body in pictures.items():
        site.route(f"/unused-{n}.png", handler=slow.picture(body))
    site.route(
        "/page.html",
        body=b'<!DOCTYPE html><html><head><title>Styled</title><link rel="stylesheet"'
        b' href="/page.css"></head><body><h1>A page with rules for later</h1></body></html>',
        headers=HTML,
    )

    captured, _page = archived(site, "/page.html", chromium, "browser")

    assert captured.engine == "browser"
    kept = stored(captured)
    assert all(body in kept for body in pictures.values()), captured.archive.failures
    assert slow.most >= 2, "the files were fetched one at a time"
    counts = requested(site)
    assert max(counts.values()) == 1, counts


def test_a_download_still_under_way_when_the_static_pass_ends_is_not_started_again(site):
    # The static pass closes its fetcher without waiting for what it only prefetched; the render
    # and the inline step after it ask the capture's cache for that file while it is still
    # arriving. They wait for it: the file is downloaded once.
    site.route("/slow.png", delay=1.0, body=LOGO, headers={"Content-Type": "image/png"})
    policy = replace(default_policy(allow_hosts=[f"127.0.0.1:{site.port}"]), accept="*/*")
    cache = ResponseCache(lambda address: fetch(address, policy))
    with AssetFetcher(policy, shared=cache) as assets:
        assets.prefetch(site.url("/slow.png"))
        deadline = time.monotonic() + 5
        while not site.requests and time.monotonic() < deadline:
            time.sleep(0.01)  # under way, not merely waiting its turn
    assert cache.get(site.url("/slow.png")).body == LOGO
    assert cache.get(site.url("/slow.png#again")).body == LOGO
    assert requested(site)["/slow.png"] == 1


def test_a_failed_download_of_the_static_pass_is_tried_again_by_the_render(site):
    site.route("/gone.png", status=404, body=b"no")
    policy = replace(default_policy(allow_hosts=[f"127.0.0.1:{site.port}"]), accept="*/*")
    cache = ResponseCache(lambda address: fetch(address, policy))
    with AssetFetcher(policy, shared=cache) as assets, pytest.raises(CaptureError):
        assets(site.url("/gone.png"))
    with pytest.raises(CaptureError):  # released, not left waiting forever
        cache.get(site.url("/gone.png"))


def test_one_file_named_with_two_fragments_is_downloaded_once(site):
    site.route(
        "/page.html",
        body=b'<html><body><img src="/icons.svg#a" alt="a"><img src="/icons.svg#b" alt="b">'
        b"<p>Two views of one file.</p></body></html>",
        headers=HTML,
    )
    site.route(
        "/icons.svg",
        body=b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>',
        headers={"Content-Type": "image/svg+xml"},
    )
    captured, _page = archived(site, "/page.html", None, "static")
    assert requested(site)["/icons.svg"] == 1
    assert captured.archive.failed == 0
