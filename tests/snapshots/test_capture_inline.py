"""capture.inline: a page and its resources become a skeleton + assets, with nothing left to fetch.

A fake fetcher serves tests/snapshots/fixtures/site (and small in-memory sites) — no network.
"""

import base64
import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import Path

import lxml.html
import pytest

from snapshots.capture.archive import ASSET_REF, Archive, Asset, assemble
from snapshots.capture.collector import Limits
from snapshots.capture.errors import CaptureError
from snapshots.capture.fetch import Response
from snapshots.capture.inline import inline
from tests.support.archive_checks import network_references
from tests.support.images import gif, png

SITE = Path(__file__).parent / "fixtures" / "site"
ORIGIN = "http://site.test/"
DEFAULT_LIMITS = Limits()
TYPES = {".css": "text/css", ".svg": "image/svg+xml", ".woff2": "font/woff2", ".woff": "font/woff"}


@dataclass
class FakeWeb:
    """url -> (content type, body); unknown URLs answer like a 404 from the real fetcher."""

    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    requested: list[str] = field(default_factory=list)

    def __call__(self, url: str) -> Response:
        self.requested.append(url)
        final = self.redirects.get(url, url)
        if final not in self.files:
            raise CaptureError("the server answered 404 Not Found")
        content_type, body = self.files[final]
        return Response(url, final, 200, {}, content_type, None, body)


def site_web() -> FakeWeb:
    web = FakeWeb()
    for path in SITE.rglob("*"):
        if path.is_file():
            kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or ""
            web.files[ORIGIN + path.relative_to(SITE).as_posix()] = (kind, path.read_bytes())
    return web


def capture(
    page: str, web: FakeWeb | None = None, limits: Limits = DEFAULT_LIMITS
) -> tuple[Archive, FakeWeb]:
    web = web or site_web()
    html = (SITE / page).read_text(encoding="utf-8")
    return inline(html, ORIGIN + page, web, limits), web


def single_file(archive: Archive) -> str:
    return assemble(archive.html, archive.assets.__getitem__)


def tree(html: str) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(
        html.encode(), parser=lxml.html.HTMLParser(encoding="utf-8")
    )


def data_uri_text(uri: str) -> str:
    head, _, data = uri.partition(",")
    assert head.endswith(";base64")
    return base64.b64decode(data).decode("utf-8")


def fetched(web: FakeWeb) -> set[str]:
    return {url.removeprefix(ORIGIN) for url in web.requested}


@pytest.fixture(scope="module")
def home() -> tuple[Archive, FakeWeb]:
    return capture("index.html")


# ---- the whole page ---------------------------------------------------------------------------


def test_assembled_home_page_fetches_nothing_from_the_network(home):
    archive, _ = home
    page = single_file(archive)
    assert network_references(page) == []
    assert "kb-asset:" not in page


def test_home_page_counts_inlined_and_failed_resources(home):
    archive, web = home
    assert archive.failed == 1
    assert archive.failures == [(ORIGIN + "img/missing.png", "the server answered 404 Not Found")]
    # every file requested is inlined but the missing image and the framed page (a srcdoc)
    assert archive.inlined == len(set(web.requested)) - 2
    assert archive.inlined == 16  # the hero's narrow <source> is not for a 1280 px screen
    assert archive.bytes_fetched == sum(
        len(web.files[u][1]) for u in set(web.requested) if u in web.files
    )


def test_every_url_is_fetched_once(home):
    _, web = home
    assert len(web.requested) == len(set(web.requested))


def test_failing_image_is_counted_and_the_page_still_archived(home):
    archive, _ = home
    missing = tree(archive.html).xpath('//img[@alt="An image that does not exist"]')
    assert len(missing) == 1
    assert missing[0].get("src") is None
    assert missing[0].get("onerror") is None


def test_skeleton_references_are_exactly_the_assets(home):
    archive, _ = home
    referenced = set(ASSET_REF.findall(archive.html))
    for asset in archive.assets.values():
        if asset.content_type.startswith("text/css"):
            referenced |= set(ASSET_REF.findall(asset.body.decode()))
    assert referenced == set(archive.assets)
    for sha, asset in archive.assets.items():
        assert hashlib.sha256(asset.body).hexdigest() == sha


def test_second_capture_of_the_same_page_is_identical(home):
    archive, _ = home
    again, _ = capture("index.html")
    assert again.html == archive.html
    assert again.assets.keys() == archive.assets.keys()


# ---- stylesheets ------------------------------------------------------------------------------


def test_import_chain_resolves_each_url_against_its_own_stylesheet(home):
    _, web = home
    assert {
        "css/main.css",
        "css/theme/base.css",
        "css/theme/extra.css",
        "img/bg.png",
        "img/dot.gif",
        "fonts/kbsans.woff2",
    } <= fetched(web)
    page = single_file(home[0])
    main = tree(page).xpath('//link[@rel="stylesheet" and not(@media)]')[0].get("href")
    main_css = data_uri_text(main)
    base_css = data_uri_text(re.search(r'@import url\("([^"]+)"\)', main_css).group(1))
    assert (
        "data:image/png;base64," + base64.b64encode((SITE / "img/bg.png").read_bytes()).decode()
        in base_css
    )
    assert "@charset" not in base_css


def test_import_cycle_is_cut_and_terminates(home):
    _, web = home
    assert web.requested.count(ORIGIN + "css/main.css") == 1
    extra = next(a for a in home[0].assets.values() if b".note" in a.body)
    assert b"@import" not in extra.body  # extra.css imported main.css: a cycle, dropped


def test_font_face_keeps_only_the_source_a_browser_downloads(home):
    _, web = home
    assert "fonts/kbsans.woff2" in fetched(web)
    assert not {"fonts/kbsans.woff", "fonts/kbsans.eot"} & fetched(web)


def test_urls_in_css_comments_and_strings_are_not_fetched(home):
    _, web = home
    assert not any("never-fetched" in url or "not-a-url" in url for url in web.requested)


def test_style_blocks_and_style_attributes_are_inlined(home):
    archive, web = home
    doc = tree(archive.html)
    assert "kb-asset:" in doc.find(".//style").text
    assert "kb-asset:" in doc.xpath('//div[@class="banner"]')[0].get("style")
    assert {"img/hero-wide.png", "img/banner.png"} <= fetched(web)


def test_print_stylesheet_keeps_its_media(home):
    doc = tree(home[0].html)
    (printed,) = doc.xpath('//link[@media="print"]')
    assert printed.get("href").startswith("kb-asset:")


def test_stylesheet_urls_resolve_against_the_final_url_after_a_redirect():
    web = FakeWeb(
        files={
            "http://a.test/static/v2/site.css": ("text/css", b"body{background:url(bg.png)}"),
            "http://a.test/static/v2/bg.png": ("image/png", png()),
        },
        redirects={"http://a.test/site.css": "http://a.test/static/v2/site.css"},
    )
    archive = inline('<link rel="stylesheet" href="/site.css">', "http://a.test/", web)
    assert archive.failed == 0
    assert "http://a.test/static/v2/bg.png" in web.requested


def test_image_set_and_cursor_urls_are_inlined():
    web = FakeWeb(
        files={
            "http://a.test/a.png": ("image/png", png()),
            "http://a.test/b.png": ("image/png", png(2, 2)),
        }
    )
    html = """<style>.x{background-image:image-set("a.png" 1x, url(b.png) 2x);cursor:url(a.png),auto}</style>"""
    archive = inline(html, "http://a.test/", web)
    assert network_references(single_file(archive)) == []
    assert archive.inlined == 2


def test_data_stylesheet_cannot_import_relative_to_the_page():
    # monolith's case: a data: stylesheet importing "style.css" must not load the page's style.css
    web = FakeWeb(files={"http://a.test/style.css": ("text/css", b"body{background:pink}")})
    data = "data:text/css;base64," + base64.b64encode(b'@import "style.css";\n').decode()
    archive = inline(f'<link href="{data}" rel="stylesheet">', "http://a.test/", web)
    assert web.requested == []
    assert network_references(single_file(archive)) == []


def test_stylesheet_matching_its_integrity_hash_is_inlined_and_a_mismatch_is_not():
    css = b"body{color:#fff}"
    good = "sha384-" + base64.b64encode(hashlib.sha384(css).digest()).decode()
    bad = "sha384-" + base64.b64encode(hashlib.sha384(b"other").digest()).decode()
    web = FakeWeb(files={"http://a.test/s.css": ("text/css", css)})
    html = (
        f'<link rel="stylesheet" href="s.css" integrity="{good}" crossorigin="anonymous">'
        f'<link rel="stylesheet" href="s.css" integrity="{bad}" crossorigin="anonymous">'
    )
    archive = inline(html, "http://a.test/", web)
    links = tree(archive.html).xpath("//link")
    assert len(links) == 1
    assert links[0].get("integrity") is None
    assert links[0].get("crossorigin") is None
    assert archive.failures == [("http://a.test/s.css", "it does not match its integrity hash")]


def test_css_charset_is_honoured_and_the_asset_is_utf8():
    body = '@charset "iso-8859-1"; p::after{content:"é"}'.encode("latin-1")
    web = FakeWeb(files={"http://a.test/s.css": ("text/css", body)})
    archive = inline('<link rel="stylesheet" href="s.css">', "http://a.test/", web)
    (asset,) = archive.assets.values()
    assert asset.content_type == "text/css;charset=utf-8"
    assert 'content:"é"' in asset.body.decode("utf-8")


# ---- images -------------------------------------------------------------------------------------


def test_srcset_inlines_the_candidate_a_desktop_browser_picks(home):
    archive, web = home
    assert "img/photo-800.png" in fetched(web)
    assert not {"img/photo-400.png", "img/photo-1600.png"} & fetched(web)
    (img,) = tree(archive.html).xpath('//img[@alt="A photo in three sizes"]')
    assert re.fullmatch(r"kb-asset:[0-9a-f]{64} 800w", img.get("srcset"))
    assert img.get("src") == img.get("srcset").split()[0]


def test_picture_keeps_only_the_image_a_1280_px_screen_shows(home):
    archive, web = home
    assert "img/hero-wide.png" in fetched(web)
    assert "img/hero-narrow.png" not in fetched(web)  # (max-width: 600px)
    assert "img/hero.jxl" not in fetched(web)  # a format Chrome does not show
    picture = tree(archive.html).find(".//picture")
    assert list(picture.iter("source")) == []
    assert picture.find("img").get("src").startswith("kb-asset:")


def test_lazy_image_is_promoted_and_its_noscript_copy_kept_once(home):
    archive, web = home
    assert "img/lazy.png" in fetched(web)
    imgs = tree(archive.html).xpath('//img[@alt="A lazily loaded image"]')
    assert len(imgs) == 1
    assert imgs[0].get("src").startswith("kb-asset:")


def test_lazy_data_src_replaces_a_placeholder():
    web = FakeWeb(files={"http://a.test/real.png": ("image/png", png())})
    html = '<img class="lazyload" src="/spacer.gif" data-src="real.png" data-srcset="real.png 1x">'
    archive = inline(html, "http://a.test/", web)
    img = tree(archive.html).find(".//img")
    assert img.get("src").startswith("kb-asset:")
    assert img.get("data-src") is None
    assert img.get("class") == "lazyloaded"
    assert web.requested == ["http://a.test/real.png"]


def test_a_pages_own_lazy_class_keeps_its_style():
    # `.lazy { display: block; width: 400px }` in the page's stylesheet: renaming the class would
    # put the pictures side by side, unsized (bench/pages/lazy-images.html lost 12.7 % so).
    web = FakeWeb(files={"http://a.test/real.png": ("image/png", png())})
    archive = inline('<img class="lazy wide" data-src="real.png">', "http://a.test/", web)
    img = tree(archive.html).find(".//img")
    assert img.get("src").startswith("kb-asset:")
    assert img.get("class").split() == ["lazy", "wide", "loaded"]


def test_svg_image_table_background_and_image_input_are_inlined(home):
    archive, web = home
    assert {"img/logo.svg", "img/cell.gif", "img/go.png"} <= fetched(web)
    doc = tree(archive.html)
    assert doc.find(".//image").get("href").startswith("kb-asset:")
    assert doc.find(".//table").get("background").startswith("kb-asset:")
    assert doc.xpath('//input[@type="image"]')[0].get("src").startswith("kb-asset:")
    svg = next(a for a in archive.assets.values() if a.body.startswith(b"<svg"))
    assert svg.content_type == "image/svg+xml"


def test_external_svg_sprite_is_embedded_for_use(home):
    archive, _ = home
    doc = tree(archive.html)
    uses = [u.get("href") for u in doc.iter("use")]
    assert len(uses) == 2
    assert all(u.startswith("#kb") for u in uses)
    for href in uses:
        assert doc.xpath(f'//*[@id="{href[1:]}"]'), href
    sprite = doc.xpath("//svg[@data-kb-sprite]")[0]
    sprite_html = lxml.html.tostring(sprite, encoding="unicode")
    assert "script" not in sprite_html
    assert "onclick" not in sprite_html
    gradient = sprite.xpath('.//*[local-name()="lineargradient" or local-name()="linearGradient"]')[
        0
    ]
    assert f"url(#{gradient.get('id')})" in sprite_html


def test_favicon_is_inlined_once(home):
    archive, web = home
    icons = tree(archive.html).xpath('//link[contains(@rel, "icon")]')
    assert len(icons) == 1
    assert icons[0].get("href").startswith("kb-asset:")
    assert "img/touch-icon.png" not in fetched(web)


def test_data_urls_are_left_as_they_are():
    uri = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
    archive = inline(
        f'<img src="{uri}"><div style="background:url({uri})"></div>', "http://a.test/", FakeWeb()
    )
    assert archive.html.count(uri) == 2
    assert archive.inlined == archive.failed == 0


def test_image_fragment_survives_inlining():
    web = FakeWeb(
        files={
            "http://a.test/icons.svg": (
                "image/svg+xml",
                b'<svg xmlns="http://www.w3.org/2000/svg"/>',
            )
        }
    )
    archive = inline('<img src="icons.svg#home">', "http://a.test/", web)
    assert re.search(r'src="kb-asset:[0-9a-f]{64}#home"', archive.html)


def test_web_page_served_as_an_image_is_not_inlined():
    web = FakeWeb(files={"http://a.test/x.png": ("text/html", b"<!doctype html><p>Not found</p>")})
    archive = inline('<img src="x.png">', "http://a.test/", web)
    assert archive.failures == [("http://a.test/x.png", "it is not an image")]
    assert archive.assets == {}


def test_image_without_a_type_is_sniffed():
    web = FakeWeb(files={"http://a.test/pic": ("application/octet-stream", gif())})
    archive = inline('<img src="pic">', "http://a.test/", web)
    (asset,) = archive.assets.values()
    assert asset.content_type == "image/gif"


# ---- media ---------------------------------------------------------------------------------------


def test_small_media_is_inlined_and_large_media_becomes_a_link():
    web = FakeWeb(
        files={
            "http://a.test/small.mp3": ("audio/mpeg", b"ID3" + b"\x00" * 100),
            "http://a.test/big.mp4": ("video/mp4", b"\x00" * 3_000_000),
            "http://a.test/poster.png": ("image/png", png()),
        }
    )
    html = (
        '<audio controls src="small.mp3"></audio>'
        '<video controls poster="poster.png"><source src="big.mp4" type="video/mp4"></video>'
    )
    archive = inline(html, "http://a.test/", web, Limits(max_media_bytes=2 * 1024 * 1024))
    doc = tree(archive.html)
    assert doc.find(".//audio").get("src").startswith("kb-asset:")
    assert doc.find(".//video") is None
    assert doc.xpath('//a[@href="http://a.test/big.mp4"]')
    assert archive.failures == [("http://a.test/big.mp4", "audio and video over 2 MB are left out")]
    assert network_references(single_file(archive)) == []


# ---- what is removed or neutered -----------------------------------------------------------------


def test_scripts_handlers_and_javascript_urls_are_gone(home):
    page = single_file(home[0])
    doc = tree(page)
    assert doc.find(".//script") is None
    assert "js/app.js" not in fetched(home[1])
    for el in doc.iter():
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (el.tag, name)
            assert "javascript:" not in value.lower(), (el.tag, name)
    assert doc.xpath('//a[text()="Do not click"]')[0].get("href") is None


def test_noscript_content_is_unwrapped(home):
    doc = tree(home[0].html)
    assert doc.find(".//noscript") is None
    assert doc.xpath('//p[@class="no-js"]')


def test_nested_noscript_is_unwrapped_and_its_scripts_dropped():
    web = FakeWeb(
        files={
            "http://a.test/i.svg": ("image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"/>')
        }
    )
    html = "<body><noscript><h1>No JS</h1><noscript><script>alert(1)</script><img src=i.svg></noscript></noscript></body>"
    archive = inline(html, "http://a.test/", web)
    doc = tree(archive.html)
    assert doc.find(".//noscript") is None
    assert doc.find(".//script") is None
    assert doc.find(".//h1").text == "No JS"
    assert doc.find(".//img").get("src").startswith("kb-asset:")


def test_refresh_preload_and_other_links_are_removed(home):
    doc = tree(home[0].html)
    assert not doc.xpath("//meta[@http-equiv]")
    rels = sorted(link.get("rel") for link in doc.iter("link"))
    assert rels == ["icon", "stylesheet", "stylesheet"]
    assert "site.webmanifest" not in fetched(home[1])


def test_utf8_is_declared_first_and_once(home):
    doc = tree(home[0].html)
    head = doc.find("head")
    assert head[0].tag == "meta"
    assert head[0].get("charset") == "utf-8"
    assert len(doc.xpath("//meta[@charset]")) == 1


def test_doctype_is_kept(home):
    assert home[0].html.startswith("<!DOCTYPE html>")


def test_frame_of_the_same_site_is_kept_as_a_sandboxed_document(home):
    doc = tree(home[0].html)
    (frame,) = doc.iter("iframe")
    assert frame.get("src") is None
    assert frame.get("sandbox") == ""
    assert (frame.get("width"), frame.get("height")) == ("300", "80")
    framed = tree(frame.get("srcdoc"))
    assert framed.findtext(".//p") == "This page is shown inside an iframe on the home page."
    assert "frame.html" in fetched(home[1])


def test_object_showing_an_image_stays_an_image_and_embeds_become_links():
    web = FakeWeb(
        files={
            "http://a.test/logo.svg": (
                "image/svg+xml",
                b'<svg xmlns="http://www.w3.org/2000/svg"/>',
            )
        }
    )
    html = '<object data="logo.svg" type="image/svg+xml" width="20"></object><embed src="game.swf">'
    archive = inline(html, "http://a.test/", web)
    doc = tree(archive.html)
    assert doc.find(".//img").get("src").startswith("kb-asset:")
    assert doc.find(".//embed") is None
    assert doc.xpath('//a[@href="http://a.test/game.swf"]')


def test_forms_cannot_submit_anywhere(home):
    doc = tree(home[0].html)
    form = doc.find(".//form")
    assert form.get("action") is None
    assert all(el.get("formaction") is None for el in doc.iter())


def test_links_point_at_the_live_site_and_fragments_stay(home):
    doc = tree(home[0].html)
    hrefs = [a.get("href") for a in doc.iter("a") if a.get("href")]
    assert ORIGIN + "about.html" in hrefs
    assert "https://example.org/" in hrefs
    assert "#gallery" in hrefs


def test_base_element_is_applied_then_removed():
    archive, web = capture("based/index.html")
    doc = tree(archive.html)
    assert doc.find(".//base") is None
    assert fetched(web) == {"img/dot.gif", "css/print.css"}
    assert doc.xpath("//a")[0].get("href") == ORIGIN + "about.html"
    assert archive.failed == 0


def test_frameset_page_becomes_links():
    archive = inline(
        '<frameset cols="50%,50%"><frame src="a.html"><frame src="b.html"></frameset>',
        "http://a.test/",
        FakeWeb(),
    )
    doc = tree(archive.html)
    assert doc.find(".//frame") is None
    assert [a.get("href") for a in doc.iter("a")] == [
        "http://a.test/a.html",
        "http://a.test/b.html",
    ]


def test_a_literal_asset_reference_in_the_page_is_not_resolved():
    sha = "a" * 64
    archive = inline(
        f'<p>kb-asset:{sha}</p><img src="kb-asset:{sha}">', "http://a.test/", FakeWeb()
    )
    assert sha not in ASSET_REF.findall(archive.html)


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   ",
        "plain text",
        "<",
        "\x00\x01",
        "<?xml version='1.0'?><p>x</p>",
        '<a href="a\x01b">control characters</a><img src="x\x0b.png" srcset="y.png 2x\x03">',
        '<a href="\udc80">a lone surrogate</a>',
    ],
)
def test_odd_input_gives_a_valid_archive_and_never_raises(html):
    archive = inline(html, "http://a.test/", FakeWeb())
    doc = tree(archive.html)
    assert doc.find("head")[0].get("charset") == "utf-8"
    assert archive.failed == len(archive.failures)
    assert network_references(single_file(archive)) == []


# ---- failures and limits ------------------------------------------------------------------------


def test_failure_sentence_comes_from_the_fetcher_and_unknown_errors_are_counted_too():
    def fetch(url: str) -> Response:
        if url.endswith("a.png"):
            raise CaptureError("the server took too long to answer", transient=True)
        raise RuntimeError("boom")

    archive = inline('<img src="a.png"><img src="b.png">', "http://a.test/", fetch)
    assert archive.failed == 2
    assert archive.failures[0] == ("http://a.test/a.png", "the server took too long to answer")
    assert archive.failures[1][0] == "http://a.test/b.png"


def test_error_status_is_a_failure():
    def fetch(url: str) -> Response:
        return Response(url, url, 500, {}, "image/png", None, png())

    archive = inline('<img src="a.png">', "http://a.test/", fetch)
    assert archive.failures == [("http://a.test/a.png", "the server answered 500")]


def test_asset_count_limit_stops_fetching_and_counts_the_rest():
    archive, web = capture("index.html", limits=Limits(max_assets=3))
    assert len(web.requested) == 3
    limited = [url for url, sentence in archive.failures if sentence == "asset limit reached"]
    assert len(limited) >= 10
    assert archive.failed == len(archive.failures)
    assert network_references(single_file(archive)) == []


def test_byte_limit_stops_fetching():
    png_head = b"\x89PNG\r\n\x1a\n"
    web = FakeWeb(
        files={
            f"http://a.test/{i}.png": ("image/png", png_head + bytes([i]) * 200) for i in range(5)
        }
    )
    size = len(web.files["http://a.test/0.png"][1])
    html = "".join(f'<img src="{i}.png">' for i in range(5))
    archive = inline(html, "http://a.test/", web, Limits(max_total_bytes=2 * size))
    assert archive.inlined == 2
    assert sum(len(a.body) for a in archive.assets.values()) <= 2 * size
    assert [s for _, s in archive.failures] == ["asset limit reached"] * 3


# ---- assemble -----------------------------------------------------------------------------------


def test_assemble_turns_references_into_data_uris_recursively():
    image = Asset("image/png", png())
    image_sha = hashlib.sha256(image.body).hexdigest()
    css = Asset(
        "text/css;charset=utf-8", f'body{{background:url("kb-asset:{image_sha}")}}'.encode()
    )
    css_sha = hashlib.sha256(css.body).hexdigest()
    store = {image_sha: image, css_sha: css}
    loads = []

    def load(sha: str) -> Asset:
        loads.append(sha)
        return store[sha]

    page = assemble(
        f'<link rel="stylesheet" href="kb-asset:{css_sha}"><img src="kb-asset:{image_sha}">', load
    )
    assert "kb-asset:" not in page
    assert f'src="data:image/png;base64,{base64.b64encode(image.body).decode()}"' in page
    href = re.search(r'href="([^"]+)"', page).group(1)
    assert href.startswith("data:text/css;charset=utf-8;base64,")
    assert "data:image/png;base64," in data_uri_text(href)
    assert sorted(loads) == sorted(store)  # each asset loaded once


def test_assemble_never_leaves_a_network_url_for_an_unknown_asset():
    def load(sha: str) -> Asset:
        raise KeyError(sha)

    page = assemble(f'<img src="kb-asset:{"0" * 64}">', load)
    assert page == '<img src="data:,">'


def test_assemble_refuses_a_content_type_that_could_break_out_of_the_attribute():
    asset = Asset('image/png" onload="x', b"x")
    page = assemble(f'<img src="kb-asset:{"1" * 64}">', lambda sha: asset)
    assert "onload" not in page
    assert 'src="data:application/octet-stream;base64,eA=="' in page


# ---- the network_references helper itself ------------------------------------------------------


def test_network_references_lists_what_a_browser_would_fetch():
    css = base64.b64encode(
        b'@import "http://x.test/imported.css"; a{background:url(/bg.png)}'
    ).decode()
    html = f"""<!DOCTYPE html><html><head>
      <link rel="stylesheet" href="data:text/css;base64,{css}">
      <style>@import url(//cdn.test/s.css); p{{content:"url(ignored.png)"}}</style>
      <script src="app.js"></script>
      </head><body style="background:url('https://x.test/b.png')">
      <a href="https://keep.test/">a link is not a fetch</a>
      <img srcset="data:image/png;base64,AAAA 1x, small.png 2x">
      <svg><use href="icons.svg#a"></use><use href="#local"></use></svg>
      <iframe src="frame.html"></iframe><form action="/post"></form>
      </body></html>"""
    assert sorted(network_references(html)) == sorted(
        [
            "http://x.test/imported.css",
            "/bg.png",
            "//cdn.test/s.css",
            "app.js",
            "https://x.test/b.png",
            "small.png",
            "icons.svg#a",
            "frame.html",
            "/post",
        ]
    )


def test_density_srcset_picks_the_1x_candidate_and_fetches_nothing_else():
    web = FakeWeb(files={f"http://a.test/{n}.png": ("image/png", png(n, n)) for n in (1, 2, 3)})
    archive = inline('<img src="3.png" srcset="2.png 2x, 1.png 1x">', "http://a.test/", web)
    assert web.requested == ["http://a.test/1.png"]
    img = tree(archive.html).find(".//img")
    assert img.get("srcset").endswith(" 1x")
    assert img.get("src") == img.get("srcset").split()[0]


def test_stylesheet_inside_noscript_in_head_is_applied():
    web = FakeWeb(files={"http://a.test/nojs.css": ("text/css", b".menu{display:block}")})
    html = '<html><head><noscript><link rel="stylesheet" href="nojs.css"></noscript></head><body></body></html>'
    archive = inline(html, "http://a.test/", web)
    (link,) = tree(archive.html).xpath("//head/link")
    assert link.get("href").startswith("kb-asset:")


ARCHIVE_CSP = (
    "sandbox allow-same-origin; default-src 'none'; img-src data:; "
    "style-src 'unsafe-inline' data:; font-src data:"
)


@pytest.mark.browser
def test_assembled_archive_renders_in_chromium_under_the_archive_csp(browser, home):
    """Nested data: stylesheets, data: images, embedded sprites: all shown, nothing requested."""
    page_html = single_file(home[0])
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
        shown = tab.evaluate(
            """() => ({
              images: Object.fromEntries([...document.images].map(i => [i.alt, i.naturalWidth > 0])),
              body: getComputedStyle(document.body).backgroundImage,
              note: getComputedStyle(document.querySelector('.note')).backgroundImage,
              maxWidth: getComputedStyle(document.body).maxWidth,
              icons: [...document.querySelectorAll('svg[aria-label] use')]
                       .map(u => u.getBoundingClientRect().width),
            })"""
        )
    finally:
        context.close()
    assert requested == ["http://archive.test/page"]
    assert shown["images"] == {
        "A photo in three sizes": True,
        "A wide hero image": True,
        "An image that does not exist": False,
        "A lazily loaded image": True,
    }
    assert shown["body"].startswith('url("data:image/png;base64,')  # base.css, imported by main.css
    assert shown["note"].startswith('url("data:image/gif;base64,')  # extra.css, one level deeper
    assert shown["maxWidth"] == "736px"  # main.css itself
    assert all(width > 0 for width in shown["icons"])
