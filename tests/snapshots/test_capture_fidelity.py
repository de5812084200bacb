"""What the archive shows is what a reader saw on a desktop screen (1280 px, Chrome), and it
stores nothing else: the real image behind a blur-up placeholder, the one <picture> source that
screen shows, audio and video that play in the archive.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass, field

import lxml.html
import pytest

from snapshots.capture.archive import assemble
from snapshots.capture.errors import CaptureError
from snapshots.capture.fetch import Response
from snapshots.capture.inline import inline
from snapshots.views.archive import ARCHIVE_CSP
from tests.support.archive_checks import active_content, network_references
from tests.support.images import gif, png


@dataclass
class FakeWeb:
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    requested: list[str] = field(default_factory=list)

    def __call__(self, url: str) -> Response:
        self.requested.append(url)
        if url not in self.files:
            raise CaptureError("the server answered 404 Not Found")
        content_type, body = self.files[url]
        return Response(url, url, 200, {}, content_type, None, body)


def tree(html: str) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(html)


def images(*names: str) -> FakeWeb:
    return FakeWeb(files={f"http://a.test/{name}": ("image/png", png()) for name in names})


# ---- blur-up and lazy backgrounds ---------------------------------------------------------------


def test_blur_up_placeholder_is_replaced_by_the_real_image():
    web = images("photo-20px.jpg", "photo.jpg")
    html = '<img class="blur-up" src="photo-20px.jpg" data-src="photo.jpg" alt="A photo">'
    archive = inline(html, "http://a.test/", web)
    assert web.requested == ["http://a.test/photo.jpg"]  # the tiny copy is never stored
    assert tree(archive.html).find(".//img").get("src").startswith("kb-asset:")


def test_data_srcset_beside_a_tiny_srcset_wins():
    web = images("tiny.jpg", "real-800.jpg", "real-1600.jpg")
    html = (
        '<img src="tiny.jpg" srcset="tiny.jpg 20w" '
        'data-srcset="real-800.jpg 800w, real-1600.jpg 1600w" sizes="800px">'
    )
    inline(html, "http://a.test/", web)
    assert web.requested == ["http://a.test/real-800.jpg"]


def test_lazy_background_becomes_the_elements_background():
    web = FakeWeb(files={"http://a.test/hero.gif": ("image/gif", gif((9, 9, 9)))})
    html = '<div class="hero lazyload" data-bg="hero.gif" style="height: 300px">Hello</div>'
    archive = inline(html, "http://a.test/", web)
    div = tree(archive.html).find(".//div")
    assert div.get("data-bg") is None
    assert "height: 300px" in div.get("style")
    assert 'background-image: url("kb-asset:' in div.get("style")
    assert web.requested == ["http://a.test/hero.gif"]


# ---- <picture> ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sources", "shown"),
    [
        # the first source whose media holds on a 1280 x 800 screen
        (
            [("(max-width: 600px)", "", "small.png"), ("(min-width: 1024px)", "", "large.png")],
            "large.png",
        ),
        ([("(min-width: 800px)", "", "first.png"), ("", "", "second.png")], "first.png"),
        ([("(prefers-color-scheme: dark)", "", "dark.png"), ("", "", "light.png")], "light.png"),
        ([("(orientation: portrait)", "", "tall.png")], "fallback.png"),
        # the first type Chrome reads
        ([("", "image/jxl", "photo.jxl"), ("", "image/webp", "photo.webp")], "photo.webp"),
        ([("print", "", "print.png")], "fallback.png"),
    ],
)
def test_picture_stores_only_the_source_chrome_shows_at_1280_px(sources, shown):
    names = [name for _, _, name in sources] + ["fallback.png"]
    web = images(*names)
    markup = "".join(
        f'<source srcset="{name}"'
        + (f' media="{media}"' if media else "")
        + (f' type="{kind}"' if kind else "")
        + ">"
        for media, kind, name in sources
    )
    html = f'<picture>{markup}<img src="fallback.png" alt="A picture"></picture>'
    archive = inline(html, "http://a.test/", web)
    assert web.requested == [f"http://a.test/{shown}"]
    picture = tree(archive.html).find(".//picture")
    assert list(picture.iter("source")) == []
    assert picture.find("img").get("src").startswith("kb-asset:")


def test_picture_falls_back_to_the_image_when_its_source_is_missing():
    web = images("fallback.png")
    html = '<picture><source srcset="gone.png"><img src="fallback.png"></picture>'
    archive = inline(html, "http://a.test/", web)
    assert web.requested == ["http://a.test/gone.png", "http://a.test/fallback.png"]
    assert tree(archive.html).find(".//img").get("src").startswith("kb-asset:")


# ---- audio and video --------------------------------------------------------------------------------


def tone(seconds: float = 0.5) -> bytes:
    """A short silent WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * int(8000 * seconds))
    return buffer.getvalue()


def test_kept_audio_gets_the_browsers_own_controls():
    web = FakeWeb(files={"http://a.test/tone.wav": ("audio/wav", tone())})
    # the page's own player was a script: without it the element has nothing to press
    archive = inline('<audio src="tone.wav" class="js-player"></audio>', "http://a.test/", web)
    audio = tree(archive.html).find(".//audio")
    assert audio.get("src").startswith("kb-asset:")
    assert audio.get("controls") is not None


def test_archive_policy_lets_kept_media_play():
    assert "media-src data:" in ARCHIVE_CSP


@pytest.mark.browser
def test_kept_audio_plays_in_the_archive_under_its_policy(browser):
    web = FakeWeb(files={"http://a.test/tone.wav": ("audio/wav", tone())})
    archive = inline(
        "<!doctype html><title>Sound</title><audio src='tone.wav'></audio>", "http://a.test/", web
    )
    page_html = assemble(archive.html, archive.assets.__getitem__)
    context = browser.new_context()
    tab = context.new_page()
    tab.route(
        "http://archive.test/page",
        lambda route: route.fulfill(
            status=200,
            headers={
                "Content-Type": "text/html; charset=utf-8",
                "Content-Security-Policy": ARCHIVE_CSP,
            },
            body=page_html,
        ),
    )
    try:
        tab.goto("http://archive.test/page")
        duration = tab.evaluate(
            """() => new Promise(done => {
                 const audio = document.querySelector('audio');
                 if (audio.readyState >= 1) return done(audio.duration);
                 audio.addEventListener('loadedmetadata', () => done(audio.duration));
                 audio.addEventListener('error', () => done(-1));
                 audio.load();
                 setTimeout(() => done(-2), 5000);
               })"""
        )
    finally:
        context.close()
    assert duration == pytest.approx(0.5, abs=0.05)


# ---- frames -----------------------------------------------------------------------------------------


def framed_site() -> FakeWeb:
    return FakeWeb(
        files={
            "http://a.test/frame.html": (
                "text/html",
                b"<!doctype html><title>Chart</title><script>steal()</script>"
                b'<p onclick="steal()">Sales by month</p><img src="chart.png" alt="chart">'
                b'<iframe src="inner.html"></iframe>',
            ),
            "http://a.test/inner.html": (
                "text/html",
                b'<p>One frame deeper</p><iframe src="deepest.html" title="Deepest"></iframe>',
            ),
            "http://a.test/deepest.html": ("text/html", b"<p>Too deep</p>"),
            "http://a.test/chart.png": ("image/png", png(4, 4)),
        }
    )


def test_frame_of_the_same_site_is_an_inert_document_of_its_own():
    web = framed_site()
    html = '<p>Report</p><iframe src="/frame.html" width="400" height="300" title="Chart"></iframe>'
    archive = inline(html, "http://a.test/report", web)
    page = assemble(archive.html, archive.assets.__getitem__)

    (frame,) = tree(page).iter("iframe")
    assert frame.get("sandbox") == ""
    assert frame.get("src") is None
    assert (frame.get("width"), frame.get("height")) == ("400", "300")
    framed = tree(frame.get("srcdoc"))
    assert framed.findtext(".//p") == "Sales by month"
    assert framed.find(".//img").get("src").startswith("data:image/png;base64,")
    assert network_references(page) == []
    assert active_content(page) == []


def test_frames_are_kept_two_deep_then_become_links():
    web = framed_site()
    archive = inline('<iframe src="/frame.html"></iframe>', "http://a.test/", web)
    frame = tree(archive.html).find(".//iframe")
    inner = tree(tree(frame.get("srcdoc")).find(".//iframe").get("srcdoc"))
    assert inner.findtext(".//p") == "One frame deeper"
    assert inner.find(".//iframe") is None
    (link,) = inner.xpath('//a[@class="kb-embedded"]')
    assert link.get("href") == "http://a.test/deepest.html"
    assert "http://a.test/deepest.html" not in web.requested


def test_foreign_player_becomes_a_link_of_the_same_size():
    web = FakeWeb()
    html = (
        '<iframe src="https://www.youtube.com/embed/xyz" width="560" height="315" '
        'title="A talk"></iframe>'
    )
    archive = inline(html, "http://a.test/", web)
    doc = tree(archive.html)
    assert doc.find(".//iframe") is None
    (link,) = doc.xpath('//a[@class="kb-embedded"]')
    assert link.get("href") == "https://www.youtube.com/embed/xyz"
    assert link.text == "A talk"
    assert "width: 560px" in link.get("style")
    assert "height: 315px" in link.get("style")
    assert web.requested == []  # a foreign frame is never fetched


@pytest.mark.browser
def test_kept_frame_shows_in_the_archive_and_requests_nothing(browser):
    web = framed_site()
    archive = inline(
        '<!doctype html><title>Report</title><iframe src="/frame.html" width="400" height="300">'
        "</iframe>",
        "http://a.test/",
        web,
    )
    page_html = assemble(archive.html, archive.assets.__getitem__)
    context = browser.new_context()
    tab = context.new_page()
    requested = []
    tab.on("request", lambda request: requested.append(request.url))
    tab.route(
        "http://archive.test/page",
        lambda route: route.fulfill(
            status=200,
            headers={
                "Content-Type": "text/html; charset=utf-8",
                "Content-Security-Policy": ARCHIVE_CSP,
            },
            body=page_html,
        ),
    )
    try:
        tab.goto("http://archive.test/page")
        tab.wait_for_timeout(300)
        framed = [frame for frame in tab.frames if frame != tab.main_frame]
        shown = framed[0].evaluate(
            "() => [document.querySelector('p').textContent, document.images[0].naturalWidth]"
        )
    finally:
        context.close()
    assert shown == ["Sales by month", 4]
    assert requested == ["http://archive.test/page"]


# ---- fonts ------------------------------------------------------------------------------------------

WOFF2 = b"wOF2" + b"\x00" * 40


def font_site(css: str, *fonts: str) -> FakeWeb:
    web = FakeWeb(files={"http://a.test/site.css": ("text/css", css.encode())})
    for name in fonts:
        web.files[f"http://a.test/{name}"] = ("font/woff2", WOFF2 + name.encode())
    return web


def fonts_fetched(web: FakeWeb) -> list[str]:
    return sorted(url.rsplit("/", 1)[1] for url in web.requested if url.endswith(".woff2"))


def face(family: str, file: str, extra: str = "") -> str:
    return f'@font-face{{font-family:"{family}";src:url({file}) format("woff2");{extra}}}\n'


def test_only_the_font_faces_the_page_uses_are_stored():
    css = (
        face("Body Sans", "body.woff2")
        + face("Icon Font", "icons.woff2")  # declared by the theme, used by no rule
        + face("Head Serif", "head.woff2")
        + "body{font-family:'Body Sans',sans-serif}\n"
        + "h1{font:bold 2em/1.2 Head Serif, serif}\n"
    )
    web = font_site(css, "body.woff2", "icons.woff2", "head.woff2")
    html = '<link rel="stylesheet" href="site.css"><h1>Title</h1><p>Words</p>'
    archive = inline(html, "http://a.test/", web)
    assert fonts_fetched(web) == ["body.woff2", "head.woff2"]
    stylesheet = next(
        a.body for a in archive.assets.values() if a.content_type.startswith("text/css")
    )
    assert b"Icon Font" not in stylesheet


def test_a_family_named_in_another_stylesheet_or_a_custom_property_counts():
    css = face("Brand", "brand.woff2") + face("Mono", "mono.woff2")
    web = font_site(css, "brand.woff2", "mono.woff2")
    html = (
        '<link rel="stylesheet" href="site.css">'
        "<style>:root{--brand-font: Brand, system-ui} h1{font-family:var(--brand-font)}</style>"
        '<h1>Title</h1><code style="font-family: Mono">x = 1</code>'
    )
    inline(html, "http://a.test/", web)
    assert fonts_fetched(web) == ["brand.woff2", "mono.woff2"]


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("Only plain English words.", ["latin.woff2"]),
        ("只有中文", ["cjk.woff2"]),
        ("Mixed 中文 text", ["cjk.woff2", "latin.woff2"]),
    ],
)
def test_unicode_range_slices_are_kept_only_for_the_pages_characters(text, wanted):
    css = (
        face("Noto", "latin.woff2", "unicode-range:U+0000-00FF,U+0131")
        + face("Noto", "cyrillic.woff2", "unicode-range:U+0400-045F")
        + face("Noto", "cjk.woff2", "unicode-range:U+4E00-9FFF")
        + "body{font-family:Noto}"
    )
    web = font_site(css, "latin.woff2", "cyrillic.woff2", "cjk.woff2")
    inline(f'<link rel="stylesheet" href="site.css"><p>{text}</p>', "http://a.test/", web)
    assert fonts_fetched(web) == wanted
