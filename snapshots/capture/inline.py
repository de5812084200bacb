"""Turn a fetched page into a self-contained archive: its CSS, images, fonts and icons inlined,
its scripts, handlers and active content removed.

``inline`` parses the page (``tree``), walks it element by element and asks a ``Collector``
(``collector``) for every file an element needs — through ``css`` for stylesheets and ``style``
attributes, ``srcset`` for responsive images and ``sprites`` for ``<use>`` — and returns an
``Archive`` (``archive``): the skeleton and its assets.

After `inline`, the only network URLs left in the document are the targets of ``<a>``/``<area>``
links (made absolute to the live site); everything a browser would fetch is a ``kb-asset:`` or
``data:`` reference, or has been removed and counted as a failure.

This module is pure Python (no Django): it is handed a ``fetch(url) -> Response`` callable.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from copy import deepcopy
from urllib.parse import urldefrag, urlsplit

import lxml.html
from lxml import etree

from snapshots.capture.archive import ASSET_SCHEME, Archive
from snapshots.capture.assets import AssetFetcher, Scout
from snapshots.capture.collector import Collector, Fetcher, Limits
from snapshots.capture.css import rewrite_css
from snapshots.capture.decode import decode
from snapshots.capture.fetch import Response
from snapshots.capture.fonts import FontUse
from snapshots.capture.references import absolute, clean, is_inert, join_url, may_fetch, scheme_of
from snapshots.capture.sniff import SUPPORTED_IMAGE_SOURCE_TYPES, extension_type, looks_like_html
from snapshots.capture.sprites import Sprites
from snapshots.capture.srcset import media_matches, parse_srcset, rank_candidates
from snapshots.capture.tree import (
    declare_utf8,
    escape_style_markup,
    keep_own_text,
    neutralize_document,
    parse_page,
    remove,
    replace,
    unwrap,
)

__all__ = ["DEFAULT_LIMITS", "inline"]

logger = logging.getLogger(__name__)

DEFAULT_LIMITS = Limits()


def inline(
    html: str,
    base_url: str,
    fetch: Fetcher,
    limits: Limits = DEFAULT_LIMITS,
    *,
    lead_image_url: str = "",
) -> Archive:
    """Inline the resources of `html` (fetched from `base_url`) into a skeleton + assets.

    ``lead_image_url`` (the page's og:image) is kept too, though the page may never show it: the
    library shows it as the link's picture.
    """
    root, doctype = parse_page(html)
    if ASSET_SCHEME in html:
        neutralize_document(root)
    if isinstance(fetch, AssetFetcher):
        # a first walk over a copy names every file, so they download side by side
        _Inliner(Scout(fetch), deepcopy(root)).run(base_url)
    collector = Collector(fetch, limits)
    collector.font_use = FontUse.of_page(root, base_url, collector.stylesheet_text)
    icon_sha = _Inliner(collector, root).run(base_url)
    escape_style_markup(root)
    skeleton = lxml.html.tostring(root, encoding="unicode", doctype=doctype or None)
    icon = collector.assets.get(icon_sha)
    lead_ref = collector.image(urldefrag(lead_image_url)[0]) if lead_image_url else None
    return Archive(
        html=skeleton,
        assets=collector.assets,
        inlined=len(collector.inlined_urls),
        failed=len(collector.failures),
        failures=collector.failures,
        bytes_fetched=collector.bytes_fetched,
        # the library shows it as an <img>: only ever an image asset of this archive
        icon=icon_sha if icon is not None and icon.content_type.startswith("image/") else "",
        images=collector.image_shas(),
        lead_image=lead_ref[len(ASSET_SCHEME) :] if lead_ref else "",
    )


def _is_web_page(response: Response) -> bool:
    return response.content_type in ("text/html", "application/xhtml+xml") or (
        looks_like_html(response.body)
    )


def _page_text(response: Response, url: str) -> str:
    content_type = response.headers.get("Content-Type")
    return decode(response.body, content_type, response.final_url or url).text


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_URL_ATTRS = _words(
    "src href xlink:href srcset poster background action formaction data cite longdesc "
    "lowsrc dynsrc codebase archive classid manifest profile ping icon imagesrcset srcdoc "
    "xml:base attributionsrc"
)
_DROP_ATTRS = frozenset({"integrity", "crossorigin", "nonce", "ping", "attributionsrc"})
_SVG_URL_PROPERTIES = _words(
    "fill stroke filter mask clip-path marker-start marker-mid marker-end cursor"
)
_LINK_TAGS = frozenset({"a", "area"})
_EMBED_TAGS = frozenset({"iframe", "frame", "embed", "object", "applet", "portal", "fencedframe"})
_BACKGROUND_TAGS = frozenset({"body", "table", "td", "th", "tr", "thead", "tbody", "tfoot"})
_APPLE_ICON_RELS = frozenset({"apple-touch-icon", "apple-touch-icon-precomposed"})
_LAZY_SRC = ("data-src", "data-lazy-src", "data-original", "data-lazy", "data-echo")
_LAZY_SRCSET = ("data-srcset", "data-lazy-srcset")
_LAZY_BACKGROUNDS = ("data-bg", "data-bg-src", "data-background-image")
# Frames inside frames inside the page are kept; deeper ones become links.
_FRAME_DEPTH = 2
_FRAME_ATTRIBUTES = _words("width height title class id name frameborder scrolling allowfullscreen")
_PLACEHOLDER = re.compile(
    r"placeholder|blank\.|spacer|lazy|loading|transparent\.|pixel\.|1x1|grey\.gif", re.I
)
_REMOVED_HTTP_EQUIV = _words(
    "refresh content-type content-security-policy content-security-policy-report-only "
    "set-cookie link default-style"
)


class _Inliner:
    """One walk over one page: makes each element safe and self-contained."""

    def __init__(
        self, collector: Collector, root: etree._Element, *, origin: str = "", depth: int = 0
    ) -> None:
        self.collector = collector
        self.root = root
        self.sprites = Sprites(collector, root)
        self._icon = ""
        self.origin = origin  # the page's own origin: frames from it are kept
        self.depth = depth  # how many frames deep this document is

    def run(self, base_url: str) -> str:
        """Rewrite the page in place; the sha256 of its inlined icon, or ""."""
        root = self.root
        self.origin = self.origin or _origin(base_url)
        base = self._document_base(root, base_url)
        self._unwrap_noscript(root)
        if self.depth == 0:  # a frame's icon is never shown
            self._favicon(root, base)
        self._walk(root, base)
        self._frameset(root)
        declare_utf8(root)
        return self._icon

    def _document_base(self, root: etree._Element, base_url: str) -> str:
        base = base_url
        found = False
        for el in list(root.iter("base")):
            href = el.get("href")
            if href is not None and not found:
                found = True
                resolved = absolute(base_url, href)
                if resolved:
                    base = resolved
            remove(el)
        return base

    def _unwrap_noscript(self, root: etree._Element) -> None:
        # scripts never run in the archive, so what a page shows without them is what it shows
        # (parse_page reads <noscript> as markup, with scripting off)
        for el in list(root.iter("noscript")):
            elements = [c for c in el if isinstance(c.tag, str)]
            previous = el.getprevious()
            # the lazy-loading pattern <img data-src=x><noscript><img src=x></noscript>: keep one
            if (
                len(elements) == 1
                and elements[0].tag in ("img", "picture")
                and previous is not None
                and previous.tag in ("img", "picture")
                and (_is_lazy(previous) or any(_is_lazy(d) for d in previous.iter("img", "source")))
            ):
                remove(previous)
            unwrap(el)

    def _favicon(self, root: etree._Element, base: str) -> None:
        """Inline one icon (the first that works, plain icons before Apple's); drop the others."""
        icons = []
        for el in root.iter("link"):
            kind = _icon_kind(el)
            if kind is not None:
                icons.append((kind, len(icons), el))
        icons.sort(key=lambda item: item[:2])
        done = False
        for _, _, el in icons:
            href = el.get("href") or ""
            if not done and scheme_of(clean(href)) == "data":
                done = True
                continue
            url = absolute(base, href) if not done else None
            ref = self.collector.image(urldefrag(url)[0]) if url else None
            if ref:
                el.set("href", ref)
                done = True
                self._icon = ref[len(ASSET_SCHEME) :]
            else:
                remove(el)

    def _walk(self, root: etree._Element, base: str) -> None:
        stack = [root]
        while stack:
            el = stack.pop()
            try:
                keep = self._element(el, base)
            except ValueError:  # lxml refusing a value: lose the element, never the page
                logger.warning("removed an element inline could not rewrite", exc_info=True)
                remove(el)
                keep = False
            if keep:
                stack.extend(el[::-1])  # children, so that they pop in document order

    def _element(self, el: etree._Element, base: str) -> bool:
        """Make one element safe and self-contained; False when it was removed or replaced."""
        tag = el.tag
        if tag == "script" or not isinstance(tag, str):
            remove(el)
            return False
        attrib = el.attrib
        if attrib and any(name in attrib for name in _LAZY_BACKGROUNDS):
            _promote_lazy_background(el)
        handler = _HANDLERS.get(tag)
        integrity = None
        needs_sweep = handler is not None
        style = None
        if attrib:
            # one pass over the names: most elements have no URL, handler or style to look at
            dropped = []
            for name in attrib.keys():  # noqa: SIM118 - lxml attrib views are not plain dicts
                if name[:2] == "on" or name in _DROP_ATTRS:
                    dropped.append(name)
                elif name in _URL_ATTRS or name in _SVG_URL_PROPERTIES:
                    needs_sweep = True
                elif name == "style":
                    style = attrib[name]
            if dropped:
                integrity = attrib.get("integrity")
                for name in dropped:
                    del attrib[name]
        if handler is not None and handler(self, el, base, integrity) is False:
            return False
        if style and "(" in style:
            attrib["style"] = rewrite_css(style, base, (), self.collector)
        if needs_sweep:
            self._sweep(el, tag)
        return True

    def _sweep(self, el: etree._Element, tag: str) -> None:
        """Drop every URL attribute that still points at the network (or at script)."""
        attrib = el.attrib
        for name in [n for n in attrib.keys() if n in _URL_ATTRS]:  # noqa: SIM118
            value = attrib[name]
            if (name == "href" and tag in _LINK_TAGS) or (tag == "a" and name == "xlink:href"):
                if scheme_of(clean(value)) in ("javascript", "vbscript"):
                    del attrib[name]
                continue
            if name == "srcset":
                if all(is_inert(url) for url, _ in parse_srcset(value)):
                    continue
            elif is_inert(value) and name not in ("srcdoc", "ping", "xml:base"):
                continue
            del attrib[name]
        for name in _SVG_URL_PROPERTIES.intersection(attrib.keys()):
            value = attrib[name]
            if may_fetch(value):
                del attrib[name]

    # ---- element handlers (return False when the element is gone) ------------------------------

    def _link(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        href = el.get("href") or ""
        if _icon_kind(el) is not None and href.startswith((ASSET_SCHEME, "data:")):
            return True
        rels = set((el.get("rel") or "").lower().split())
        if "stylesheet" not in rels or "alternate" in rels or el.get("disabled") is not None:
            remove(el)  # preload, prefetch, manifest, canonical, alternate...: nothing to keep
            return False
        href = clean(href)
        if scheme_of(href) == "data":
            ref = self.collector.data_stylesheet(href, ())
            if ref is not None:
                el.set("href", ref)
            return True
        url = absolute(base, href)
        ref = self.collector.stylesheet(urldefrag(url)[0], (), integrity) if url else None
        if not ref:
            remove(el)
            return False
        el.set("href", ref)
        return True

    def _style(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        keep_own_text(el)
        if el.text:
            el.text = rewrite_css(el.text, base, (), self.collector)
        return True

    def _img(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        _promote_lazy(el)
        self._srcset(el, base)
        src = el.get("src")
        if src is not None and not is_inert(src):
            url = absolute(base, src)
            ref = self.collector.image_ref(url)
            if ref:
                el.set("src", ref)
            else:
                del el.attrib["src"]
        return True

    def _srcset(self, el: etree._Element, base: str) -> bool:
        """Inline the candidate of `srcset` a browser would choose; True when one was inlined."""
        srcset = el.get("srcset")
        if srcset is None:
            return False
        candidates = parse_srcset(srcset)
        if candidates and all(is_inert(url) for url, _ in candidates):
            return True
        for candidate, descriptor in rank_candidates(candidates, el.get("sizes")):
            if is_inert(candidate):
                continue
            ref = self.collector.image_ref(absolute(base, candidate))
            if ref:
                el.set("srcset", f"{ref} {descriptor}".strip())
                src = el.get("src")
                if el.tag == "img" and (
                    src is None or not is_inert(src) or src.startswith("data:")
                ):
                    el.set("src", ref)  # the fallback src would not be used: no second download
                return True
        del el.attrib["srcset"]
        return False

    def _picture(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        """Keep only the source Chrome at 1280 px would show: the first whose type it reads and
        whose media holds. It becomes the ``<img>``'s srcset; the other sources are never fetched."""
        sources = [child for child in el if child.tag == "source"]
        img = next((child for child in el if child.tag == "img"), None)
        chosen = None
        for source in sources:
            _promote_lazy(source)
            declared = (source.get("type") or "").strip().lower()
            media = source.get("media")
            if (
                chosen is None
                and declared in SUPPORTED_IMAGE_SOURCE_TYPES
                and (not media or media_matches(media) is True)
                and (source.get("srcset") or source.get("src"))
            ):
                chosen = source
            remove(source)
        if chosen is not None and img is not None:
            img.set("srcset", chosen.get("srcset") or chosen.get("src") or "")
            sizes = chosen.get("sizes")
            if sizes:
                img.set("sizes", sizes)
            else:
                img.attrib.pop("sizes", None)
            for name in _LAZY_SRCSET:  # the chosen source wins over the image's own candidates
                img.attrib.pop(name, None)
        return True

    def _source(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        parent = el.getparent()
        if parent is not None and parent.tag in ("video", "audio"):
            return True  # handled with its media element
        _promote_lazy(el)
        declared = (el.get("type") or "").strip().lower()
        if declared not in SUPPORTED_IMAGE_SOURCE_TYPES:
            remove(el)  # a format browsers do not show (JPEG XL, HEIC...): never fetched
            return False
        if el.get("srcset") is None and el.get("src"):
            el.set("srcset", el.attrib.pop("src"))
        if not self._srcset(el, base):
            remove(el)
            return False
        return True

    def _media_element(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        poster = el.get("poster")
        if poster is not None and not is_inert(poster):
            ref = self.collector.image_ref(absolute(base, poster))
            if ref:
                el.set("poster", ref)
            else:
                del el.attrib["poster"]
        first_url = None
        playable = False
        src = el.get("src")
        if src is not None and not is_inert(src):
            url = absolute(base, src)
            first_url = url
            ref = self.collector.media(urldefrag(url)[0]) if url else None
            if ref:
                el.set("src", ref)
                playable = True
            else:
                del el.attrib["src"]
        elif src:
            playable = True
        for child in list(el):
            if child.tag == "source":
                value = child.get("src")
                if value is None or is_inert(value):
                    playable = playable or bool(value)
                    continue
                url = absolute(base, value)
                first_url = first_url or url
                ref = self.collector.media(urldefrag(url)[0]) if url else None
                if ref:
                    child.set("src", ref)
                    playable = True
                else:
                    remove(child)
            elif child.tag == "track":
                value = child.get("src")
                if value is not None and not is_inert(value):
                    url = absolute(base, value)
                    ref = self.collector.resource(urldefrag(url)[0]) if url else None
                    if ref:
                        child.set("src", ref)
                    else:
                        remove(child)
        if not playable and first_url:
            link = lxml.html.Element("a", href=first_url)
            link.text = el.get("title") or first_url
            replace(el, link)
            return False
        if playable:
            # the page's scripted player is gone with its scripts: the browser's own controls play it
            el.set("controls", "")
        return True

    def _iframe(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        """A frame of the page's own site is kept as a document of its own (``srcdoc``, inlined
        like the page, sandboxed: nothing in it runs); a foreign one (a video player, a map, an
        ad) becomes a link to it the size the frame was."""
        value = el.get("src") or el.get("data-src") or ""
        url = absolute(base, value) if value.strip() and not is_inert(value) else None
        document = None
        if self.depth < _FRAME_DEPTH:
            if el.get("srcdoc") is not None:
                document = self._frame_document(el.get("srcdoc") or "", base)
            elif url and _origin(url) == self.origin:
                document = self._fetched_frame(urldefrag(url)[0])
        if document is None:
            return self._embedded(el, base, integrity)
        frame = lxml.html.Element("iframe")
        for name in _FRAME_ATTRIBUTES:
            if el.get(name) is not None:
                frame.set(name, el.get(name))
        if el.get("style") and "(" not in el.get("style"):
            frame.set("style", el.get("style"))
        frame.set("sandbox", "")  # no scripts, forms, popups or navigation: a page to look at
        frame.set("srcdoc", document)
        replace(el, frame)
        return False

    def _fetched_frame(self, url: str) -> str | None:
        if isinstance(self.collector, Scout):
            # A first walk does not wait for the frame: once it arrives, its own files start
            # beside the page's, instead of one at a time when the real walk reaches the frame.
            fetcher = self.collector.fetcher
            fetcher.prefetch_then(url, functools.partial(self._scout_frame, fetcher, url))
            return None
        response = self.collector.get(url)
        if response is None:
            return None
        if not _is_web_page(response):
            self.collector.fail(url, "it is not a web page")
            return None
        return self._frame_document(_page_text(response, url), response.final_url or url)

    def _scout_frame(self, fetcher: AssetFetcher, url: str, response: Response) -> None:
        """Name the files of a frame that arrived during a first walk (in a download thread, with
        a ``Scout`` of its own: a collector is not shared between threads)."""
        if not _is_web_page(response):
            return
        text = _page_text(response, url)
        root, _doctype = parse_page(text)
        if ASSET_SCHEME in text:
            neutralize_document(root)
        frame = _Inliner(Scout(fetcher), root, origin=self.origin, depth=self.depth + 1)
        frame.run(response.final_url or url)

    def _frame_document(self, html: str, base_url: str) -> str:
        root, doctype = parse_page(html)
        if ASSET_SCHEME in html:
            neutralize_document(root)
        if self.collector.font_use is not None:
            self.collector.font_use.read_page(root, base_url, self.collector.stylesheet_text)
        frame = _Inliner(self.collector, root, origin=self.origin, depth=self.depth + 1)
        frame.run(base_url)
        escape_style_markup(root)
        return lxml.html.tostring(root, encoding="unicode", doctype=doctype or None)

    def _embedded(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        """Frames, objects, embeds: a link to what they showed (an image stays an image)."""
        value = el.get("data") if el.tag == "object" else el.get("src") or el.get("data-src")
        url = absolute(base, value) if value else None
        declared = (el.get("type") or "").strip().lower()
        if (
            url
            and el.tag in ("object", "embed")
            and (declared.startswith("image/") or extension_type(url).startswith("image/"))
        ):
            ref = self.collector.image_ref(url)
            if ref:
                img = lxml.html.Element("img", src=ref)
                for name in ("width", "height", "title", "class", "id"):
                    if el.get(name):
                        img.set(name, el.get(name))
                img.set("alt", el.get("title") or el.get("aria-label") or "")
                replace(el, img)
                return False
        if not url:
            remove(el)
            return False
        link = lxml.html.Element("a", href=url)
        link.set("class", "kb-embedded")
        link.text = el.get("title") or url
        size = _placeholder_size(el)
        if size:
            link.set("style", size)
        if el.tag == "frame":
            paragraph = lxml.html.Element("p")
            paragraph.append(link)
            link = paragraph
        replace(el, link)
        return False

    def _anchor(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        for name in ("href", "xlink:href"):
            value = el.get(name)
            if value is None:
                continue
            ref = clean(value)
            scheme = scheme_of(ref)
            if scheme in ("javascript", "vbscript") or (name == "xlink:href" and el.get("href")):
                del el.attrib[name]
            elif ref.startswith("#") or (scheme and scheme not in ("http", "https")):
                if name == "xlink:href":
                    _set_href(el, ref)
            elif name == "xlink:href":
                _set_href(el, join_url(base, ref))
            else:
                el.set(name, join_url(base, ref) if ref else base)
        return True

    def _form(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        for name in ("action", "target"):
            el.attrib.pop(name, None)
        return True

    def _input(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        src = el.get("src")
        if src is not None and (el.get("type") or "").lower() == "image" and not is_inert(src):
            ref = self.collector.image_ref(absolute(base, src))
            if ref:
                el.set("src", ref)
        return True

    def _background(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        value = el.get("background")
        if value is not None and not is_inert(value):
            ref = self.collector.image_ref(absolute(base, value))
            if ref:
                el.set("background", ref)
        return True

    def _svg_image(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        for name in ("href", "xlink:href"):
            value = el.get(name)
            if value is not None and not is_inert(value):
                ref = self.collector.image_ref(absolute(base, value))
                if ref and name == "href":
                    el.set("href", ref)
                elif ref:
                    _set_href(el, ref)
        return True

    def _use(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        value = el.get("href") if el.get("href") is not None else el.get("xlink:href")
        if value is None or clean(value).startswith("#"):
            return True
        url = absolute(base, value)
        target = None
        if url:
            address, fragment = urldefrag(url)
            prefix = self.sprites.include(address) if fragment else None
            if prefix is not None:
                target = f"#{prefix}{fragment}"
        el.attrib.pop("xlink:href", None)
        if target:
            el.set("href", target)
        else:
            el.attrib.pop("href", None)
        return True

    def _meta(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        if (
            el.get("charset") is not None
            or (el.get("http-equiv") or "").strip().lower() in _REMOVED_HTTP_EQUIV
        ):
            remove(el)
            return False
        return True

    # ---- frames ----------------------------------------------------------------------------------

    def _frameset(self, root: etree._Element) -> None:
        """A frameset page has no body: its (now) links become one."""
        framesets = list(root.iter("frameset"))
        if not framesets:
            return
        has_body = root.find("body") is not None
        for el in framesets:
            el.attrib.clear()
            el.tag = "div"
        if not has_body and framesets[0].getparent() is root:
            framesets[0].tag = "body"


def _icon_kind(el: etree._Element) -> int | None:
    """0 for a page icon, 1 for an Apple touch icon, None for any other link."""
    rels = set((el.get("rel") or "").lower().split())
    if "icon" in rels:
        return 0
    return 1 if rels & _APPLE_ICON_RELS else None


def _set_href(el: etree._Element, value: str) -> None:
    # lxml cannot create an "xlink:href" attribute on an HTML element; SVG 2 reads plain href
    el.attrib.pop("xlink:href", None)
    el.set("href", value)


def _is_lazy(el: etree._Element) -> bool:
    return any(el.get(a) for a in _LAZY_SRC + _LAZY_SRCSET)


def _promote_lazy(el: etree._Element) -> None:
    """Lazy-loading scripts never run in the archive: use the real image they would have loaded."""
    attrib = el.attrib
    lazy_src = next((attrib[a] for a in _LAZY_SRC if attrib.get(a)), None)
    lazy_srcset = next((attrib[a] for a in _LAZY_SRCSET if attrib.get(a)), None)
    if lazy_src is None and lazy_srcset is None:
        return
    # A lazy loader swaps in its data-src whatever stands in src: a spacer, or the tiny blurred
    # copy of a blur-up placeholder ("photo-20px.jpg"), which is what the archive would show.
    if lazy_src and el.tag == "img":
        attrib["src"] = lazy_src
    srcset = attrib.get("srcset", "").strip()
    if lazy_srcset:
        attrib["srcset"] = lazy_srcset
    elif lazy_src and srcset and (srcset.startswith("data:") or _PLACEHOLDER.search(srcset)):
        del attrib["srcset"]  # a placeholder srcset would win over the promoted src
    for name in _LAZY_SRC + _LAZY_SRCSET:
        attrib.pop(name, None)
    # The class a loader hides its pending images by becomes the one it gives a loaded image
    # (lazysizes: lazyload → lazyloaded). A bare "lazy" is often the page's own class, styled
    # like any other (display, size): it stays, with the "loaded" vanilla-lazyload would add.
    classes = (attrib.get("class") or "").split()
    if any(c in ("lazyload", "lazyloading") for c in classes):
        kept = [c for c in classes if c not in ("lazyload", "lazyloading")]
        attrib["class"] = " ".join([*kept, "lazyloaded"])
    elif "lazy" in classes and "loaded" not in classes:
        attrib["class"] = " ".join([*classes, "loaded"])


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}"
    except ValueError:
        return ""


_LENGTH = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(px|%)?\s*")


def _placeholder_size(el: etree._Element) -> str:
    """The frame's width and height as a style for the link standing in for it."""
    declarations = []
    for name in ("width", "height"):
        m = _LENGTH.fullmatch(el.get(name) or "")
        if m:
            declarations.append(f"{name}: {m.group(1)}{m.group(2) or 'px'}")
    if not declarations:
        return ""
    return "; ".join(
        ["display: inline-block", "box-sizing: border-box", "border: 1px solid", *declarations]
    )


def _promote_lazy_background(el: etree._Element) -> None:
    """A lazy background (``data-bg``) becomes the element's background-image, as its loader's
    script would have made it; the style rewrite then inlines it."""
    attrib = el.attrib
    value = next((attrib.pop(a) for a in _LAZY_BACKGROUNDS if a in attrib), "").strip()
    for name in _LAZY_BACKGROUNDS:
        attrib.pop(name, None)
    if not value:
        return
    if not value.lower().startswith("url("):
        value = 'url("{}")'.format(value.replace("\\", "%5C").replace('"', "%22"))
    style = (attrib.get("style") or "").strip().rstrip(";")
    attrib["style"] = (
        f"{style}; background-image: {value}" if style else f"background-image: {value}"
    )


_HANDLERS: dict[str, Callable[[_Inliner, etree._Element, str, str | None], bool]] = {
    "link": _Inliner._link,
    "style": _Inliner._style,
    "img": _Inliner._img,
    "source": _Inliner._source,
    "picture": _Inliner._picture,
    "video": _Inliner._media_element,
    "audio": _Inliner._media_element,
    "a": _Inliner._anchor,
    "area": _Inliner._anchor,
    "form": _Inliner._form,
    "input": _Inliner._input,
    "image": _Inliner._svg_image,
    "feimage": _Inliner._svg_image,
    "use": _Inliner._use,
    "meta": _Inliner._meta,
    **dict.fromkeys(_EMBED_TAGS, _Inliner._embedded),
    "iframe": _Inliner._iframe,
    **dict.fromkeys(_BACKGROUND_TAGS, _Inliner._background),
}
