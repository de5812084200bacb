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
