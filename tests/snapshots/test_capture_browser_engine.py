"""The browser engine: script-built pages archived as they were shown, and nothing the page does
reaches an address the guard refuses.

Pages are served on 127.0.0.1 by a test server whose port alone is opened to the fetcher
(``KB_FETCH_ALLOW_HOSTS``-style ``host:port``); the forbidden addresses are other listeners (other
ports, 127.0.0.2, numeric spellings) that must count 0 connections. Chromium is Debian's; without
it these tests skip (and fail in CI).
"""

from __future__ import annotations

import base64
import socket
import threading
import time

import pytest

from snapshots.capture.browser import ResponseCache, find_chromium, render
from snapshots.capture.engines import capture, looks_script_built
from snapshots.capture.errors import CaptureError
from snapshots.capture.fetch import fetch
from snapshots.capture.pipeline import default_policy, single_file
from tests.support.images import png
from tests.support.servers import LocalHTTPServer, TcpListener

pytestmark = [pytest.mark.browser, pytest.mark.network]

HTML = {"Content-Type": "text/html; charset=utf-8"}
PICTURE = png(4, 4, (200, 30, 30))
LAZY_PICTURE = png(5, 5, (30, 200, 30))


@pytest.fixture
def site():
    with LocalHTTPServer() as server:
        yield server


def policy_for(server, seconds: float = 40.0):
    return default_policy(allow_hosts=[f"127.0.0.1:{server.port}"], seconds=seconds)


def serve(server, path: str, html: str) -> str:
    server.route(path, body=html.encode("utf-8"), headers=HTML)
    return server.url(path)


def archived(server, url: str, chromium: str, engine: str = "browser", seconds: float = 40.0):
    captured = capture(url, policy_for(server, seconds), engine=engine, chromium=chromium)
    return captured, single_file(captured.archive)


ARTICLE = """<!DOCTYPE html><html><head><title>Script-built article</title>
<style id="late"></style></head>
<body><div id="root"></div>
<noscript><p>Please enable JavaScript to read this article.</p></noscript>
<script>
document.getElementById("late").sheet.insertRule("h1 { color: rgb(1, 2, 3); }", 0);
fetch("/article.json").then((r) => r.json()).then((data) => {
  const root = document.getElementById("root");
  root.innerHTML = "<h1>" + data.title + "</h1>" + data.paragraphs.map((p) => "<p>" + p + "</p>").join("")
    + '<img id="figure" src="/figure.png" alt="figure">'
    + '<div style="height: 3000px">spacer</div><img id="lazy" alt="lazy" data-later="/lazy.png">';
  const lazy = document.getElementById("lazy");
  new IntersectionObserver((entries, observer) => {
    if (entries.some((entry) => entry.isIntersecting)) {
      lazy.src = lazy.dataset.later;
      observer.disconnect();
    }
  }).observe(lazy);
});
</script></body></html>"""

ARTICLE_JSON = (
    b'{"title": "Rendered by the browser", "paragraphs": ["The first paragraph came from JSON.",'
    b' "The second paragraph did too."]}'
)


def serve_article(server) -> str:
    server.route("/article.json", body=ARTICLE_JSON, headers={"Content-Type": "application/json"})
    server.route("/figure.png", body=PICTURE, headers={"Content-Type": "image/png"})
    server.route("/lazy.png", body=LAZY_PICTURE, headers={"Content-Type": "image/png"})
    return serve(server, "/article.html", ARTICLE)


def data_uri(body: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64," + base64.b64encode(body).decode("ascii")


@pytest.mark.parametrize("engine", ["browser", "auto"])
def test_script_built_article_is_archived_as_the_browser_showed_it(site, chromium, engine):
    url = serve_article(site)
    captured, page = archived(site, url, chromium, engine)

    assert captured.engine == "browser"
    assert "The first paragraph came from JSON." in page
    assert "Rendered by the browser" in captured.article.text + captured.article.title
    assert "rgb(1, 2, 3)" in page  # the rule insertRule added, written into its <style>
    assert data_uri(PICTURE) in page
    assert data_uri(LAZY_PICTURE) in page  # loaded only once scrolled into view
    assert "<script" not in page.lower()
    assert "enable JavaScript" not in page  # scripts ran: the <noscript> was not shown
    assert captured.screenshot is not None
    assert captured.screenshot.content_type == "image/jpeg"
    assert captured.screenshot.body[:3] == b"\xff\xd8\xff"
    assert 1_000 < len(captured.screenshot.body) < 400_000
    # nothing was downloaded twice: the inline step reused the browser's answers
    paths = [request.path for request in site.requests]
    assert sorted(paths) == sorted(set(paths))


def test_static_engine_keeps_what_the_page_says_without_scripts(site, chromium):
    url = serve_article(site)
    captured, page = archived(site, url, chromium, "static")
    assert captured.engine == "static"
    assert "The first paragraph came from JSON." not in page
    assert "enable JavaScript" in page
    assert captured.screenshot is None  # no og:image


def test_shadow_roots_adopted_sheets_forms_and_canvas_are_kept(site, chromium):
    url = serve(
        site,
        "/widgets.html",
        """<!DOCTYPE html><html><head><title>Widgets</title></head><body>
<div id="host"></div><canvas id="chart" width="20" height="10"></canvas>
<form><input id="name" name="name"><input id="agree" type="checkbox">
<textarea id="words"></textarea></form>
<script>
const sheet = new CSSStyleSheet();
sheet.replaceSync("body { background-color: rgb(4, 5, 6); }");
document.adoptedStyleSheets = [sheet];
const shadow = document.getElementById("host").attachShadow({mode: "open"});
shadow.innerHTML = "<p class='inside'>Inside the shadow root</p>";
const inner = new CSSStyleSheet();
inner.replaceSync(".inside { color: rgb(7, 8, 9); }");
shadow.adoptedStyleSheets = [inner];
const context = document.getElementById("chart").getContext("2d");
context.fillStyle = "#c00"; context.fillRect(0, 0, 20, 10);
document.getElementById("name").value = "Ada Lovelace";
document.getElementById("agree").checked = true;
document.getElementById("words").value = "typed by script";
</script></body></html>""",
    )
    _, page = archived(site, url, chromium)
    assert "rgb(4, 5, 6)" in page
    assert 'shadowrootmode="open"' in page
    assert "Inside the shadow root" in page
    assert "rgb(7, 8, 9)" in page
    assert 'value="Ada Lovelace"' in page
    assert "checked" in page
    assert "typed by script" in page
    assert "<canvas" not in page
    assert "data:image/png;base64," in page
    assert "<script" not in page.lower()


def test_frames_are_rendered_through_the_guard_too(site, chromium):
    serve(
        site,
        "/frame.html",
        '<!DOCTYPE html><p id="f"></p><script>document.getElementById("f").textContent ='
        ' "Written inside the frame"</script>',
    )
    url = serve(
        site,
        "/framed.html",
        "<!DOCTYPE html><title>Framed</title><h1>A page with a frame</h1>"
        '<iframe src="/frame.html" width="300" height="100"></iframe>',
    )
    cache = ResponseCache(lambda address: fetch(address, policy_for(site)))
    cache.put(url, fetch(url, policy_for(site)))
    rendered = render(url, cache, policy_for(site), executable=chromium)
    frame_url = site.url("/frame.html")
    assert "Written inside the frame" in rendered.frames[frame_url]

    _captured, page = archived(site, url, chromium, "auto")
    assert "A page with a frame" in page
    assert "<script" not in page.lower()


# --- nothing the page does reaches a refused address --------------------------------------------


def forbidden_spellings(port: int) -> list[str]:
    """Every spelling of loopback the static guard's tests use, on the listener's port."""
    hosts = [
        "127.0.0.1",
        "localhost",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "127.0.1",
        "0x7f.1",
        "0x7f.0.0x0.1",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::127.0.0.1]",
    ]
    return [f"http://{host}:{port}" for host in hosts]


HOSTILE = """<!DOCTYPE html><html><head><title>Hostile</title></head><body>
<h1>Hostile page</h1><div id="out"></div>
<script>
const targets = {targets};
for (const base of targets) {{
  fetch(base + "/fetch").catch(() => {{}});
  fetch(base + "/post", {{method: "POST", body: "secret"}}).catch(() => {{}});
  const xhr = new XMLHttpRequest(); xhr.open("GET", base + "/xhr");
  try {{ xhr.send(); }} catch (e) {{}}
  try {{ navigator.sendBeacon(base + "/beacon", "x"); }} catch (e) {{}}
  try {{ new WebSocket(base.replace("http", "ws") + "/socket"); }} catch (e) {{}}
  const img = new Image(); img.src = base + "/pixel.png"; document.body.appendChild(img);
  const link = document.createElement("link"); link.rel = "stylesheet";
  link.href = base + "/style.css"; document.head.appendChild(link);
  const frame = document.createElement("iframe"); frame.src = base + "/frame";
  document.body.appendChild(frame);
}}
try {{ new RTCPeerConnection({{iceServers: [{{urls: "stun:127.0.0.1:{port}"}}]}}); }} catch (e) {{}}
navigator.serviceWorker && navigator.serviceWorker.register("/sw.js").catch(() => {{}});
window.open("{first}/popup");
document.getElementById("out").textContent = "scripts ran";
</script></body></html>"""


def test_requests_of_every_kind_to_refused_addresses_never_connect(site, chromium):
    with TcpListener() as listener, TcpListener("127.0.0.2", listener.port) as other_loopback:
        targets = [*forbidden_spellings(listener.port), f"http://127.0.0.2:{listener.port}"]
        url = serve(
            site,
            "/hostile.html",
            HOSTILE.format(targets=targets, port=listener.port, first=targets[0]),
        )
        site.route("/sw.js", body=b"self.addEventListener('fetch', () => {});")
        captured, page = archived(site, url, chromium)
        time.sleep(0.5)  # anything that escaped would have connected by now

        assert captured.engine == "browser"
        assert "scripts ran" in page
        assert listener.connection_count == 0
        assert other_loopback.connection_count == 0
        assert listener.bytes_received == 0
    assert not [r for r in site.requests if r.method != "GET"]  # the POST was never sent
    assert "/sw.js" not in [r.path for r in site.requests]


def test_websocket_to_the_allowed_server_is_refused_too(site, chromium):
    with TcpListener() as listener:
        # the page's own server is open to the fetcher, but a WebSocket never goes anywhere
        url = serve(
            site,
            "/socket.html",
            f"""<!DOCTYPE html><title>Socket</title><p>socket page</p><script>
            new WebSocket("ws://127.0.0.1:{site.port}/live");
            new WebSocket("ws://127.0.0.1:{listener.port}/live");</script>""",
        )
        archived(site, url, chromium)
        assert listener.connection_count == 0
    assert "/live" not in [r.path for r in site.requests]


def test_ipv6_loopback_listener_is_never_reached(site, chromium):
    try:
        listener = TcpListener("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with listener:
        url = serve(
            site,
            "/six.html",
            f"""<!DOCTYPE html><title>Six</title><p>six</p><script>
            fetch("http://[::1]:{listener.port}/x").catch(() => {{}});
            new Image().src = "http://[::1]:{listener.port}/y.png";</script>""",
        )
        archived(site, url, chromium)
        time.sleep(0.3)
        assert listener.connection_count == 0


def test_the_page_cannot_navigate_away(site, chromium):
    site.route("/elsewhere.html", body=b"<h1>Somewhere else</h1>", headers=HTML)
    url = serve(
        site,
        "/leaving.html",
        "<!DOCTYPE html><title>Leaving</title><h1>Stay here</h1><script>"
        'setTimeout(() => { location.href = "/elsewhere.html"; }, 10);</script>',
    )
    _captured, page = archived(site, url, chromium)
    assert "Stay here" in page
    assert "Somewhere else" not in page
    assert "/elsewhere.html" not in [r.path for r in site.requests]


# --- limits: pages that never end, crashes; the engine goes on ----------------------------------


def test_a_script_that_never_ends_fails_with_a_sentence_and_the_next_capture_works(site, chromium):
    url = serve(
        site,
        "/forever.html",
        "<!DOCTYPE html><title>Forever</title><script>while (true) {}</script>",
    )
    started = time.monotonic()
    with pytest.raises(CaptureError) as caught:
        archived(site, url, chromium, seconds=30)
    assert time.monotonic() - started < 30
    assert "scripts did not stop running" in caught.value.sentence

    fine = serve_article(site)
    _captured, page = archived(site, fine, chromium)
    assert "The first paragraph came from JSON." in page


def test_auto_keeps_the_static_capture_of_a_page_whose_script_never_ends(site, chromium):
    url = serve(
        site,
        "/forever-app.html",
        '<!DOCTYPE html><title>Forever app</title><div id="app"></div>'
        "<script>while (true) {}</script>",
    )
    captured, _page = archived(site, url, chromium, "auto", seconds=30)
    assert captured.engine == "static"
    assert captured.article.title == "Forever app"


def test_a_page_that_eats_memory_ends_with_a_sentence(site, chromium):
    url = serve(
        site,
        "/greedy.html",
        "<!DOCTYPE html><title>Greedy</title><script>const kept = [];"
        "while (true) { kept.push(new Array(1e6).fill(1.5)); }</script>",
    )
    with pytest.raises(CaptureError) as caught:
        archived(site, url, chromium, seconds=30)
    assert "crashed" in caught.value.sentence or "did not stop" in caught.value.sentence
    captured, _ = archived(site, serve_article(site), chromium)
    assert captured.engine == "browser"


# --- auto: which pages go to the browser --------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        '<div id="root"></div><script src="/app.js"></script>',
        '<div id="__next"></div><script>1</script><p>' + "Short. " * 5 + "</p>",
        "<body><noscript>You need to enable JavaScript to run this app.</noscript><script></script>"
        + "<p>"
        + "words " * 100
        + "</p>",
        "<body><noscript>请启用 JavaScript 后查看</noscript><script></script>" + "<p>" + "字" * 400,
        "<script></script><p>Loading…</p>",
    ],
)
def test_pages_left_to_their_scripts_look_script_built(html):
    assert looks_script_built(html)


@pytest.mark.parametrize(
    "html",
    [
        "<h1>Plain</h1><p>" + "An article with words. " * 30 + "</p>",
        "<p>Short page without any script.</p>",
        '<div id="root"><h1>Server-rendered</h1><p>'
        + "Text. " * 60
        + "</p></div><script></script>",
    ],
)
def test_pages_with_their_content_do_not(html):
    assert not looks_script_built(html)


def test_without_chromium_auto_is_static_and_browser_says_why(site):
    url = serve_article(site)
    captured = capture(url, policy_for(site), engine="auto", chromium=None)
    assert captured.engine == "static"
    with pytest.raises(CaptureError) as caught:
        capture(url, policy_for(site), engine="browser", chromium=None)
    assert "no Chromium was found" in caught.value.sentence


def test_static_capture_takes_the_pages_og_image_through_the_guard(site):
    site.route("/card.png", body=PICTURE, headers={"Content-Type": "image/png"})
    url = serve(
        site,
        "/og.html",
        f'<!DOCTYPE html><head><title>With a card</title><meta property="og:image" '
        f'content="{site.url("/card.png")}"></head><body><p>{"Words. " * 50}</p>',
    )
    captured = capture(url, policy_for(site), engine="static", chromium=None)
    assert captured.screenshot is not None
    assert captured.screenshot.body == PICTURE


def test_og_image_on_a_refused_address_is_not_fetched(site):
    with TcpListener() as listener:
        url = serve(
            site,
            "/og-bad.html",
            f'<!DOCTYPE html><head><title>Bad card</title><meta property="og:image" '
            f'content="http://127.0.0.1:{listener.port}/card.png"></head><body><p>Words.</p>',
        )
        captured = capture(url, policy_for(site), engine="static", chromium=None)
        assert captured.screenshot is None
        assert listener.connection_count == 0


def test_chromium_is_found_on_path_or_where_configured(tmp_path):
    assert find_chromium(str(tmp_path / "missing")) is None
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_chromium(str(fake)) == str(fake)


def test_the_second_wall_resolves_and_connects_nothing(chromium):
    """Launched as the engine launches it, Chromium without interception reaches no listener."""
    from playwright.sync_api import sync_playwright

    from snapshots.capture.browser import CHROMIUM_ARGS

    outcomes: list[str] = []

    def visit(targets: list[str]) -> None:
        # In a thread of its own: this test process may already run a sync Playwright (fixtures).
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS))
            try:
                page = browser.new_page()
                for target in targets:
                    try:
                        page.goto(target, timeout=5000)
                        outcomes.append(f"loaded {target}")
                    except Exception as error:  # noqa: BLE001 - the network error is the point
                        outcomes.append(type(error).__name__)
            finally:
                browser.close()

    with TcpListener() as listener:
        targets = [
            f"http://127.0.0.1:{listener.port}/",
            f"http://localhost:{listener.port}/",
            f"http://{socket.gethostname()}:{listener.port}/",
        ]
        thread = threading.Thread(target=visit, args=(targets,))
        thread.start()
        thread.join(timeout=60)
        assert len(outcomes) == len(targets)
        assert not [o for o in outcomes if o.startswith("loaded")]
        assert listener.connection_count == 0


def test_the_first_wall_sees_and_refuses_each_request_itself(site, chromium):
    """Interception, not only the launch flags: every kind of request is answered (refused) by kb."""
    with TcpListener() as listener:
        base = f"http://127.0.0.1:{listener.port}"
        url = serve(
            site,
            "/kinds.html",
            f"""<!DOCTYPE html><title>Kinds</title><p>kinds</p><script>
            fetch("{base}/fetch").catch(() => {{}});
            const xhr = new XMLHttpRequest(); xhr.open("GET", "{base}/xhr"); xhr.send();
            navigator.sendBeacon("/beacon", "x");
            new WebSocket("ws://127.0.0.1:{listener.port}/socket");
            new Image().src = "{base}/pixel.png";
            </script>""",
        )
        cache = ResponseCache(lambda address: fetch(address, policy_for(site)))
        cache.put(url, fetch(url, policy_for(site)))
        rendered = render(url, cache, policy_for(site), executable=chromium)
        refused = set(rendered.refused)
        assert {f"{base}/fetch", f"{base}/xhr", f"{base}/pixel.png"} <= refused
        assert site.url("/beacon") in refused  # a POST, even to the page's own server
        assert f"ws://127.0.0.1:{listener.port}/socket" in refused
        assert listener.connection_count == 0
