"""Archives are inert on their own: a single file opened from disk can neither run nor fetch.

Three walls: the capture strips what a browser would run or fetch (as an HTML5 parser and a CSS
tokenizer read the page, escapes and foreign content included), every single file carries its
own restrictive CSP, and the site serves it sandboxed. These tests check the first two without a
browser; tests/snapshots/test_capture_browser.py opens the files in Chromium.
"""

import base64
import re

import lxml.html
import pytest

from snapshots.capture.archive import ARCHIVE_CSP, CSP_META, Archive, with_own_csp
from snapshots.capture.errors import CaptureError
from snapshots.capture.fetch import Response
from snapshots.capture.inline import inline
from snapshots.capture.pipeline import single_file
from tests.support.archive_checks import active_content, network_references
from tests.support.capture import fake_web
from tests.support.images import png

ORIGIN = "http://hostile.test/"


def no_web(url: str) -> Response:
    raise CaptureError("the server answered 404 Not Found")


def archive_of(html: str) -> str:
    return single_file(inline(html, ORIGIN, no_web))


def head_children(html: str) -> list[lxml.html.HtmlElement]:
    return list(lxml.html.document_fromstring(html).find("head"))


# --- the file's own CSP -------------------------------------------------------------------------


def test_single_file_starts_its_head_with_a_csp_that_allows_no_script_and_no_fetch():
    page = archive_of("<title>t</title><link rel=stylesheet href=a.css><p>hello")
    first = head_children(page)[0]
    assert first.tag == "meta"
    assert first.get("http-equiv") == "Content-Security-Policy"
    policy = dict(d.strip().split(" ", 1) for d in first.get("content").split(";"))
    assert policy["default-src"] == "'none'"
    assert "script-src" not in policy  # falls back to 'none'
    assert policy["img-src"] == policy["font-src"] == policy["media-src"] == "data:"
    assert policy["style-src"] == "'unsafe-inline' data:"
    assert policy["form-action"] == policy["base-uri"] == "'none'"
    assert page.count(CSP_META) == 1


def test_the_page_cannot_bring_its_own_csp_or_refresh():
    page = archive_of(
        '<meta http-equiv="Content-Security-Policy" content="default-src *">'
        '<meta http-equiv=refresh content="0;url=http://evil.test/"><p>x'
    )
    metas = [m.get("content") for m in lxml.html.document_fromstring(page).iter("meta")]
    assert [c for c in metas if c] == [ARCHIVE_CSP]


def test_an_archive_stored_without_the_csp_gets_it_once_when_assembled():
    stored = (
        '<!DOCTYPE html>\n<html><head lang="en"><meta charset="utf-8"></head><body>x</body></html>'
    )
    page = single_file(Archive(html=stored))
    assert page.startswith(
        f'<!DOCTYPE html>\n<html><head lang="en">{CSP_META}<meta charset="utf-8">'
    )
    assert with_own_csp(page) == page


def test_the_csp_goes_first_even_in_a_document_without_a_head():
    for stored in ("<p>x", "<!doctype html><html lang=en><body>x", ""):
        page = with_own_csp(stored)
        assert head_children(page)[0].get("content") == ARCHIVE_CSP, stored
        assert with_own_csp(page) == page


# --- what a browser parses is what was stripped -------------------------------------------------

FOREIGN_CONTENT = {
    "svg_style_img_onerror": "<p>x<svg><style>a{}<img src=x onerror=alert(1)></style></svg>",
    "math_style_img_onerror": "<math><style><img src=x onerror=alert(1)></style></math>",
    "svg_style_meta_refresh": (
        '<svg><style><meta http-equiv=refresh content="0;url=http://evil.test/"></style></svg>'
    ),
    "math_mi_style_meta_refresh": (
        '<math><mi><style><meta http-equiv=refresh content="0;url=http://evil.test/">'
        "</style></mi></math>"
    ),
    "svg_title_iframe": '<svg><title><iframe src="javascript:alert(1)"></iframe></title></svg>',
    "svg_desc_img_onerror": "<svg><desc><style><img src=x onerror=alert(1)></style></desc></svg>",
}


@pytest.mark.parametrize("page", FOREIGN_CONTENT.values(), ids=FOREIGN_CONTENT.keys())
def test_markup_inside_svg_and_math_style_is_stripped_as_a_browser_parses_it(page):
    archived = archive_of(page)
    assert active_content(archived) == []
    assert network_references(archived) == []


def test_escaped_markup_in_an_svg_style_is_not_written_back_as_markup():
    archived = archive_of(
        "<svg><style>&lt;img src=x onerror=alert(1)&gt;"
        "<x/>&lt;/style&gt;&lt;img src=y onerror=alert(2)&gt;</style></svg>"
    )
    assert active_content(archived) == []
    assert "\\3c img src=x onerror=alert(1)>" in archived  # the same text to CSS


def test_a_removed_import_cannot_join_text_into_a_closing_style_tag():
    archived = archive_of("<style></st@import url(x.css);yle><img src=x onerror=alert(1)></style>")
    assert active_content(archived) == []


def test_css_comparisons_in_a_style_keep_their_meaning():
    css = "@media (400px <= width < 600px) { a { color: red } }"
    archived = archive_of(f"<style>{css}</style>")
    assert css in archived


NOSCRIPT_TRICKS = {
    "closing_tag_in_attribute": '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "style_in_noscript": "<noscript><style></noscript><img src=x onerror=alert(1)></style>",
    "in_head": "<head><noscript><link rel=stylesheet href=x.css><img src=x onerror=alert(1)>",
}


COMMENT_TRICKS = {
    "abrupt_comment": "<!--><img src=x onerror=alert(1)>-->",
    "bogus_comment": "<? x ><img src=x onerror=alert(1)>",
    "comment_in_attribute": '<!--<img title="--><img src=x onerror=alert(1)>">',
    "cdata_in_svg": "<svg><![CDATA[<img src=x onerror=alert(1)>]]></svg>",
}


PARSER_TRICKS = {**NOSCRIPT_TRICKS, **COMMENT_TRICKS}


@pytest.mark.parametrize("page", PARSER_TRICKS.values(), ids=PARSER_TRICKS.keys())
def test_noscript_and_comment_tricks_leave_nothing_that_runs(page):
    archived = archive_of(page)
    assert active_content(archived) == []
    assert "<noscript" not in archived.lower()


def test_declarative_shadow_root_content_is_stripped_and_kept():
    archived = archive_of(
        "<div><template shadowrootmode=open><img src=http://evil.test/x.png onerror=alert(1)>"
        "<b>shadow text</b></template></div>"
    )
    assert active_content(archived) == []
    assert "evil.test" not in archived
    assert "<b>shadow text</b>" in archived


def test_the_page_is_parsed_as_html5_void_elements_and_doctype_included():
    root_html = archive_of(
        '<!doctype html public "-//W3C//DTD XHTML 1.0 Transitional//EN" "x">'
        "<p>a<wbr>b<source>c<embed src=x.swf>d</p>"
    )
    assert root_html.startswith('<!DOCTYPE html public "-//W3C//DTD XHTML 1.0 Transitional//EN"')
    assert re.search(r"<p>a<wbr>(</wbr>)?bc.*d</p>", root_html)


# --- CSS as a browser tokenizes it ----------------------------------------------------------------

CSS_VECTORS = {
    "escaped_url_function": "a{background:u\\72l(http://evil.test/a.png)}",
    "escaped_url_function_uppercase": "a{background:\\55 RL(http://evil.test/a.png)}",
    "escaped_url_in_property": "a{b\\61ckground:\\75rl(//evil.test/a.png)}",
    "escaped_import": '@\\69mport "http://evil.test/a.css";',
    "escaped_import_url": "@\\69mport url(http://evil.test/a.css) screen;",
    "import_after_comment": '@import/**/"http://evil.test/a.css";',
    "escaped_image_set": 'a{background:image-\\73 et("http://evil.test/a.png" 1x)}',
    "escaped_webkit_image_set": 'a{background:-webkit-image-\\73 et("http://evil.test/a.png" 1x)}',
    "src_function": 'a{background:src("http://evil.test/a.png")}',
    "font_face_escaped_src": "@font-face{font-family:f;src:u\\72l(http://evil.test/f.woff2)}",
    "bad_url_hides_the_next": 'a{b:url(x"y)}b{background:url(http://evil.test/a.png)}',
    "carriage_return_ends_a_string": 'a{content:"x\r}b{background:url(http://evil.test/a.png)}"',
    "escaped_quote_is_no_string": 'a{b:\\"}c{background:url(http://evil.test/a.png)}"',
    "newline_ends_a_quoted_url": 'a{b:url("x\n)}c{background:url(http://evil.test/a.png)}")}',
}


def stylesheets(page: str) -> list[str]:
    """The text of every data: stylesheet in an assembled page."""
    found = re.findall(r"data:text/css[^,\"]*;base64,([A-Za-z0-9+/=]+)", page)
    return [base64.b64decode(data).decode("utf-8") for data in found]


@pytest.mark.parametrize("css", CSS_VECTORS.values(), ids=CSS_VECTORS.keys())
def test_css_references_hidden_from_a_simple_scanner_are_made_empty(css):
    archived = archive_of(f"<style>{css}</style>")
    assert "evil.test" not in archived
    assert network_references(archived) == []
    fetch = fake_web({ORIGIN + "s.css": ("text/css", css.encode())})
    archived = single_file(inline("<link rel=stylesheet href=s.css>", ORIGIN, fetch))
    assert [text for text in stylesheets(archived) if "evil.test" in text] == []


STYLE_ATTRIBUTE_VECTORS = {
    "escaped_url_function": "background:u\\72l(http://evil.test/a.png)",
    "escaped_property_and_url": "b\\61ckground:\\75rl(//evil.test/a.png)",
    "escaped_image_set": 'background:image-\\73 et("http://evil.test/a.png" 1x)',
    "src_function": 'background:src("http://evil.test/a.png")',
}


@pytest.mark.parametrize(
    "css", STYLE_ATTRIBUTE_VECTORS.values(), ids=STYLE_ATTRIBUTE_VECTORS.keys()
)
def test_style_attribute_references_hidden_from_a_simple_scanner_are_made_empty(css):
    archived = archive_of(f"<p style='{css}'>x</p>")
    assert "evil.test" not in archived


def test_an_escaped_url_value_is_inlined_like_any_other():
    fetch = fake_web({"http://hostile.test/a.png": ("image/png", png())})
    page = "<style>a{background:url(http\\3a //hostile.test/a.png)}</style>"
    archive = inline(page, ORIGIN, fetch)
    assert archive.inlined == 1
    assert "data:image/png;base64," in single_file(archive)


def test_ordinary_css_with_escaped_strings_is_left_as_written():
    css = '.icon:before{content:"\\f101"}\n.a{color:red}/* url(x) \\ */@media (width < 600px){.b{margin:0}}'
    assert f"<style>{css}</style>" in archive_of(f"<style>{css}</style>")


def test_svg_presentation_attributes_naming_the_network_in_any_spelling_are_dropped():
    archived = archive_of(
        '<svg><rect fill="URL(http://evil.test/a.svg#p)"/><rect stroke="u\\72l(//evil.test/b)"/>'
        '<rect cursor="url(#c), url(http://evil.test/c.cur), auto"/>'
        '<rect fill="url(#grad) #fff" stroke="red"/></svg>'
    )
    assert "evil.test" not in archived
    assert 'fill="url(#grad) #fff"' in archived


def test_an_external_svg_sprite_cannot_bring_a_fetch_or_markup_in():
    sprite = (
        '<svg xmlns="http://www.w3.org/2000/svg"><style>a{}<x/>b{background:url(http://evil.test/s)}'
        "&lt;img src=x onerror=alert(1)&gt;</style>"
        '<symbol id="i"><path fill="URL(http://evil.test/p)" stroke="u\\72l(//evil.test/q)"/>'
        "</symbol></svg>"
    )
    fetch = fake_web({ORIGIN + "icons.svg": ("image/svg+xml", sprite.encode())})
    archived = single_file(inline('<svg><use href="icons.svg#i"/></svg>', ORIGIN, fetch))
    assert "<symbol" in archived
    assert "evil.test" not in archived
    assert active_content(archived) == []
