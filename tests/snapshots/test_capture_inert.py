"""Archives are inert on their own: a single file opened from disk can neither run nor fetch.

Three walls: the capture strips what a browser would run or fetch (as an HTML5 parser and a CSS
tokenizer read the page, escapes and foreign content included), every single file carries its
own restrictive CSP, and the site serves it sandboxed. These tests check the first two without a
browser; tests/snapshots/test_capture_browser.py opens the files in Chromium.
"""

import re

import lxml.html
import pytest

from snapshots.capture.archive import ARCHIVE_CSP, CSP_META, Archive, with_own_csp
from snapshots.capture.errors import CaptureError
from snapshots.capture.fetch import Response
from snapshots.capture.inline import inline
from snapshots.capture.pipeline import single_file
from tests.support.archive_checks import active_content, network_references

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


@pytest.mark.parametrize("page", NOSCRIPT_TRICKS.values(), ids=NOSCRIPT_TRICKS.keys())
def test_noscript_tricks_leave_nothing_that_runs(page):
    archived = archive_of(page)
    assert active_content(archived) == []
    assert "<noscript" not in archived.lower()


COMMENT_TRICKS = {
    "abrupt_comment": "<!--><img src=x onerror=alert(1)>-->",
    "bogus_comment": "<? x ><img src=x onerror=alert(1)>",
    "comment_in_attribute": '<!--<img title="--><img src=x onerror=alert(1)>">',
    "cdata_in_svg": "<svg><![CDATA[<img src=x onerror=alert(1)>]]></svg>",
}


@pytest.mark.parametrize("page", COMMENT_TRICKS.values(), ids=COMMENT_TRICKS.keys())
def test_comment_tricks_leave_nothing_that_runs(page):
    assert active_content(archive_of(page)) == []


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
