"""Which engine captures a page: ``static``, ``browser``, or ``auto`` (static, then the browser for
a page its scripts build).

``capture(url, policy, limits, engine=..., chromium=...)`` is what the task calls. Every answer
of one capture is fetched once, through the guarded ``fetch``, into a ``ResponseCache`` that the
static pass, the browser (``browser``) and the inline step share: ``auto`` rendering a page after
its static pass downloads nothing twice.

- ``static``: ``pipeline.capture_page`` as it always was; its screenshot is the page's
  ``og:image`` (fetched through the guard too) when it has one.
- ``browser``: Chromium renders the page; its DOM is inlined, scripts stripped, like any page;
  the screenshot is its first screen. No Chromium, or a render that failed, is a ``CaptureError``.
- ``auto``: static first; the browser only when the static result looks built by scripts (little
  text, an empty app root, a ``<noscript>`` asking for JavaScript) and Chromium is there. A render
  that fails keeps the static result.

No Django import here.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace

from snapshots.capture import errors
from snapshots.capture.archive import Asset
from snapshots.capture.assets import AssetFetcher
from snapshots.capture.browser import (
    BROWSER_OFF,
    BrowserFailed,
    Rendered,
    ResponseCache,
    render,
)
from snapshots.capture.collector import Limits
from snapshots.capture.decode import decode
from snapshots.capture.extract import extract
from snapshots.capture.fetch import FetchPolicy, Response, fetch, new_session
from snapshots.capture.inline import inline
from snapshots.capture.pipeline import Capture, capture_page, is_html
from snapshots.capture.sniff import image_type
from snapshots.capture.tree import parse_page

__all__ = ["ENGINES", "capture", "looks_script_built"]

logger = logging.getLogger(__name__)

ENGINES = ("auto", "static", "browser")
# An og:image larger than this is no preview: left out.
MAX_PREVIEW_BYTES = 2 * 1024 * 1024
PREVIEW_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/avif"})
# Fewer visible characters than this, on a page that has scripts, is a page its scripts fill.
LITTLE_TEXT = 200
APP_ROOTS = frozenset(
    {"root", "app", "__next", "__nuxt", "app-root", "main-app", "svelte", "q-app"}
)
ASKS_FOR_JAVASCRIPT = re.compile(
    r"(enable|turn on|activate|allow)\s+javascript|javascript\s+(is\s+)?"
    r"(required|disabled|needed|must)|needs?\s+javascript|(启用|开启|開啟|啟用|打开)\s*javascript"
    r"|javascript\s*(已禁用|被禁用|未启用)",
    re.I,
)


def capture(
    url: str,
    policy: FetchPolicy,
    limits: Limits | None = None,
    *,
    engine: str = "auto",
    chromium: str | None = None,
) -> Capture:
    """Capture ``url`` with ``engine``; raises ``CaptureError`` (``BrowserFailed`` for a render)."""
    limits = limits or Limits()
    session = new_session()
    asset_policy = replace(policy, accept="*/*")
    cache = ResponseCache(lambda address: fetch(address, asset_policy, session=session))

    def fetcher(address: str, rules: FetchPolicy) -> Response:
        if rules is not policy:
            return cache.get(address)
        response = fetch(address, rules, session=session)  # the page itself, as a document
        cache.put(address, response)
        cache.put(response.final_url, response)
        return response

    try:
        if engine == "browser":
            if chromium is None:
                raise BrowserFailed(BROWSER_OFF)
            response = fetcher(url, policy)
            if not is_html(response):
                return capture_page(url, policy, limits, fetcher=fetcher, shared=cache)
            return _rendered_capture(response, cache, policy, limits, chromium)

        static = capture_page(url, policy, limits, fetcher=fetcher, shared=cache)
        if (
            engine == "auto"
            and chromium is not None
            and static.decoded is not None
            and looks_script_built(static.decoded.text)
        ):
            try:
                return _rendered_capture(static.response, cache, policy, limits, chromium)
            except errors.CaptureError as error:
                logger.warning("rendering %s failed (%s); keeping its static capture", url, error)
        return replace(static, screenshot=_preview(static, cache))
    finally:
        session.close()


def _rendered_capture(
    response: Response, cache: ResponseCache, policy: FetchPolicy, limits: Limits, chromium: str
) -> Capture:
    rendered: Rendered = render(
        response.final_url,
        cache,
        policy,
        executable=chromium,
        max_bytes=limits.max_total_bytes,
    )
    # What each frame showed, under its address: the inline step finds the rendered frame there.
    for address, html in rendered.frames.items():
        body = html.encode("utf-8")
        headers = {"Content-Type": "text/html;charset=utf-8"}
        cache.put(address, Response(address, address, 200, headers, "text/html", "utf-8", body))
    decoded = decode(response.body, response.headers.get("Content-Type"))
    # The files the browser did not load (a rule no element matched, an icon) download side by
    # side, like a static capture's; the others come out of the cache.
    with AssetFetcher(replace(policy, accept="*/*"), limits=limits, download=cache.get) as assets:
        archive = inline(rendered.html, rendered.final_url, assets, limits)
    article = extract(rendered.html, rendered.final_url)
    screenshot = Asset("image/jpeg", rendered.screenshot) if rendered.screenshot else None
    return Capture(
        response=response,
        decoded=decoded,
        archive=archive,
        article=article,
        engine="browser",
        screenshot=screenshot,
    )


def _preview(captured: Capture, cache: ResponseCache) -> Asset | None:
    """A static capture's picture: the page's own og:image, fetched through the guard."""
    address = captured.article.image if captured.article is not None else ""
    if not address:
        return None
    try:
        response = cache.get(address)
    except errors.CaptureError:
        return None
    if len(response.body) > MAX_PREVIEW_BYTES:
        return None
    kind = image_type(response.body, response.content_type, address)
    return Asset(kind, response.body) if kind in PREVIEW_TYPES else None


def looks_script_built(html: str) -> bool:
    """Does this page (as fetched, scripts not run) leave its content to its scripts?"""
    root, _ = parse_page(html)
    has_scripts = any(True for _ in root.iter("script"))
    if not has_scripts:
        return False
    for noscript in root.iter("noscript"):
        if ASKS_FOR_JAVASCRIPT.search(" ".join(noscript.itertext())):
            return True
    for el in root.iter("div", "main", "section", "app-root", "body"):
        if (
            (el.get("id") or "").lower() in APP_ROOTS
            and not len(el)
            and not (el.text or "").strip()
        ):
            return True
    body = root.find("body")
    if body is None:
        return True
    shown = body.xpath(
        ".//text()[not(ancestor::script or ancestor::style or ancestor::noscript "
        "or ancestor::template)]"
    )
    return len("".join("".join(shown).split())) < LITTLE_TEXT
