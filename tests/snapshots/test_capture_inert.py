"""Archives are inert on their own: a single file opened from disk can neither run nor fetch.

Three walls: the capture strips what a browser would run or fetch (as an HTML5 parser and a CSS
tokenizer read the page, escapes and foreign content included), every single file carries its
own restrictive CSP, and the site serves it sandboxed. These tests check the first two without a
browser; tests/snapshots/test_capture_browser.py opens the files in Chromium.
"""


import lxml.html

from snapshots.capture.archive import ARCHIVE_CSP, CSP_META, Archive, with_own_csp
from snapshots.capture.errors import CaptureError
from snapshots.capture.fetch import Response
from snapshots.capture.inline import inline
from snapshots.capture.pipeline import single_file

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
