"""Turn a fetched page into a self-contained archive: its CSS, images, fonts and icons inlined,
its scripts, handlers and active content removed.

The archive is a *skeleton* plus *assets*. The skeleton is the page's HTML in which every inlined
resource is written as ``kb-asset:<sha256 of its bytes>``; the assets are those bytes. Storage is
content-addressed, so a second capture of an unchanged page stores nothing new but its skeleton.
`assemble` turns a skeleton back into one HTML file whose resources are all ``data:`` URIs.

After `inline`, the only network URLs left in the document are the targets of ``<a>``/``<area>``
links (made absolute to the live site); everything a browser would fetch is a ``kb-asset:`` or
``data:`` reference, or has been removed and counted as a failure.

This module is pure Python (no Django): it is handed a ``fetch(url) -> Response`` callable.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import unquote_to_bytes, urldefrag, urljoin

import lxml.html
from lxml import etree
from w3lib.encoding import resolve_encoding

from snapshots.capture.errors import CaptureError
from snapshots.capture.fetch import Response

__all__ = ["ASSET_REF", "Archive", "Asset", "Fetcher", "Limits", "assemble", "inline"]

Fetcher = Callable[[str], Response]

logger = logging.getLogger(__name__)

ASSET_SCHEME = "kb-asset:"
ASSET_REF = re.compile(r"kb-asset:([0-9a-f]{64})")
EMPTY_DATA_URI = "data:,"

LIMIT_SENTENCE = "asset limit reached"
CSS_TYPE = "text/css;charset=utf-8"


@dataclass(frozen=True)
class Asset:
    content_type: str
    body: bytes


@dataclass
class Archive:
    html: str
    assets: dict[str, Asset] = field(default_factory=dict)
    inlined: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    bytes_fetched: int = 0
    # the sha256 of the page's icon among `assets` (an image), or "" when none was inlined
    icon: str = ""


@dataclass(frozen=True)
class Limits:
    max_assets: int = 300
    max_total_bytes: int = 50 * 1024 * 1024
    # audio and video larger than this are left out (replaced by a link), never inlined
    max_media_bytes: int = 2 * 1024 * 1024


DEFAULT_LIMITS = Limits()


def inline(html: str, base_url: str, fetch: Fetcher, limits: Limits = DEFAULT_LIMITS) -> Archive:
    """Inline the resources of `html` (fetched from `base_url`) into a skeleton + assets."""
    return _Inliner(fetch, limits).run(html, base_url)


def assemble(html: str, load: Callable[[str], Asset]) -> str:
    """Replace every ``kb-asset:<sha>`` of a skeleton with a ``data:`` URI of that asset.

    Stylesheet assets are assembled recursively (their own references become ``data:`` URIs too);
    each asset is encoded once. An asset `load` cannot give becomes an empty ``data:`` URI.
    """
    encoded: dict[str, str] = {}

    def data_uri(sha: str, visiting: frozenset[str]) -> str:
        if sha in encoded:
            return encoded[sha]
        if sha in visiting:  # cannot happen with content addressing, but never loop
            return EMPTY_DATA_URI
        try:
            asset = load(sha)
        except Exception:  # noqa: BLE001 - a missing or unreadable blob must not break the page
            encoded[sha] = EMPTY_DATA_URI
            return EMPTY_DATA_URI
        content_type = asset.content_type if _SAFE_TYPE.fullmatch(asset.content_type) else ""
        body = asset.body
        if content_type.startswith("text/css"):
            inner = visiting | {sha}
            text = ASSET_REF.sub(
                lambda m: data_uri(m.group(1), inner), body.decode("utf-8", "replace")
            )
            body = text.encode("utf-8")
        uri = f"data:{content_type or 'application/octet-stream'};base64,"
        uri += base64.b64encode(body).decode("ascii")
        encoded[sha] = uri
        return uri

    return ASSET_REF.sub(lambda m: data_uri(m.group(1), frozenset()), html)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --------------------------------------------------------------------------------------------
# URLs

_SAFE_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*(;charset=[a-z0-9_-]+)?")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*")
_URL_NOISE = str.maketrans("", "", "\t\n\r")
_WHITESPACE = " \t\n\r\f"


def _clean(value: str) -> str:
    # browsers trim ASCII whitespace and drop tabs/newlines anywhere in a URL
    value = value.strip(_WHITESPACE)
    if "\t" in value or "\n" in value or "\r" in value:
        value = value.translate(_URL_NOISE)
    return value


def _scheme(ref: str) -> str:
    colon = ref.find(":", 0, 40)
    if colon <= 0:
        return ""
    scheme = ref[:colon]
    return scheme.lower() if _SCHEME.fullmatch(scheme) else ""


def _absolute(base: str | None, ref: str) -> str | None:
    """The absolute http(s) URL `ref` points to from `base`, or None (data:, other schemes...)."""
    ref = _clean(ref)
    if not ref:
        return None
    scheme = _scheme(ref)
    if scheme and scheme not in ("http", "https"):
        return None
    if "\\" in ref:  # before the query, backslashes are slashes in http(s) URLs for browsers
        cut = min((i for i in (ref.find("?"), ref.find("#")) if i >= 0), default=len(ref))
        ref = ref[:cut].replace("\\", "/") + ref[cut:]
    if base is None:
        if not scheme or not ref[len(scheme) + 1 :].startswith("//"):
            return None
        url = ref
    else:
        url = urljoin(base, ref)
    return url if _scheme(url) in ("http", "https") and "://" in url[:8] else None


def _join(base: str, ref: str) -> str:
    """urljoin, with shortcuts for the absolute and root-relative links most pages are made of."""
    if ref.startswith(("http://", "https://")) and "\\" not in ref:
        return ref
    if ref.startswith("/") and not ref.startswith("//") and "/." not in ref and "\\" not in ref:
        scheme, _, rest = base.partition("://")
        host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        return f"{scheme}://{host}{ref}"
    return urljoin(base, ref)


def _is_inert(value: str) -> bool:
    """A reference that needs no network: one of ours, a data: URI, a fragment, about:blank."""
    if value.startswith((ASSET_SCHEME, "data:", "#")):
        return True
    value = _clean(value)
    return (
        not value
        or value.startswith(("#", ASSET_SCHEME))
        or _scheme(value) == "data"
        or value.lower() == "about:blank"
    )


def _parse_data_url(url: str) -> tuple[str, bytes] | None:
    head, sep, data = _clean(url).partition(",")
    if not sep or not head.lower().startswith("data:"):
        return None
    params = head[5:].split(";")
    mime = params[0].strip().lower() or "text/plain"
    try:
        if any(p.strip().lower() == "base64" for p in params[1:]):
            raw = base64.b64decode(unquote_to_bytes(data) + b"===", validate=False)
        else:
            raw = unquote_to_bytes(data)
    except ValueError:
        return None
    return mime, raw


# --------------------------------------------------------------------------------------------
# Content types

_IMAGE_TYPES = _words(
    "image/png image/jpeg image/gif image/webp image/avif image/svg+xml image/apng "
    "image/bmp image/x-icon image/vnd.microsoft.icon"
)
_VAGUE_TYPES = {"", "application/octet-stream", "binary/octet-stream", "text/plain"}
_BY_EXTENSION = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "svg": "image/svg+xml",
    "ico": "image/x-icon",
    "bmp": "image/bmp",
    "woff2": "font/woff2",
    "woff": "font/woff",
    "ttf": "font/ttf",
    "otf": "font/otf",
    "eot": "application/vnd.ms-fontobject",
    "css": "text/css",
    "vtt": "text/vtt",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "ogv": "video/ogg",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
}
_SUPPORTED_IMAGE_SOURCE_TYPES = _IMAGE_TYPES | {""}


def _sniff_image(body: bytes) -> str | None:
    if body.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if body.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if body.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "image/webp"
    if body[4:12] in (b"ftypavif", b"ftypavis"):
        return "image/avif"
    if body.startswith(b"\x00\x00\x01\x00"):
        return "image/x-icon"
    if body.startswith(b"BM"):
        return "image/bmp"
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<svg") or (
        head.startswith((b"<?xml", b"<!--", b"<!doctype svg")) and b"<svg" in head
    ):
        return "image/svg+xml"
    return None


def _extension_type(url: str) -> str:
    path = urldefrag(url)[0].partition("?")[0]
    name = path.rsplit("/", 1)[-1]
    return _BY_EXTENSION.get(name.rsplit(".", 1)[-1].lower(), "") if "." in name else ""


def _looks_like_html(body: bytes) -> bool:
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


# --------------------------------------------------------------------------------------------
# CSS

# "unrolled" patterns (runs of plain characters, then one escape) stay fast on huge data: URIs
_STR_DQ = r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"?'
_STR_SQ = r"'[^'\\\n]*(?:\\.[^'\\\n]*)*'?"
_URL_FN = (
    r"""(?<![\w-])url\(\s*(?:"[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\]*(?:\\.[^'\\]*)*'"""
    r"""|[^\s"'()\\]*(?:\\.[^\s"'()\\]*)*)\s*\)"""
)
_CSS_IMPORT = re.compile(
    rf"@import\s*(?P<target>{_URL_FN}|{_STR_DQ}|{_STR_SQ})(?P<rest>[^;{{}}]*);?",
    re.IGNORECASE | re.DOTALL,
)
_CSS_STRING = re.compile(rf"{_STR_DQ}|{_STR_SQ}", re.DOTALL)
_URL_TOKEN = re.compile(_URL_FN, re.IGNORECASE | re.DOTALL)
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|(.))", re.DOTALL)
_CSS_HINTS = (b"url(", b"@import", b"image-set(")
_CHARSET_RULE = re.compile(r'^\ufeff?@charset\s+"[^"]*"\s*;?', re.IGNORECASE)
_FONT_FACE = re.compile(r"@font-face\s*\{", re.IGNORECASE)
_FONT_FORMAT = re.compile(r"""format\(\s*["']?([\w-]+)""", re.IGNORECASE)
_FONT_FORMATS = _words(
    "woff2 woff truetype opentype woff2-variations woff-variations truetype-variations "
    "opentype-variations collection"
)


_SCAN_STARTS = (b"/*", b'"', b"'", b"url(", b"@import", b"image-set(")


def _string_end(text: str, i: int) -> int:
    """End of the CSS string starting at text[i] (a quote); str.find first, a regex on escapes."""
    close = text.find(text[i], i + 1)
    if close >= 0 and text.find("\n", i + 1, close) < 0 and text.find("\\", i + 1, close) < 0:
        return close + 1
    m = _CSS_STRING.match(text, i)
    return m.end() if m else i + 1


def _url_end(text: str, i: int) -> int:
    """End of the url(...) token at text[i], or -1; str.find keeps megabyte data: URIs fast."""
    n = len(text)
    j = i + 4
    while j < n and text[j] in _WHITESPACE:
        j += 1
    if j < n and text[j] in "\"'":
        close = text.find(text[j], j + 1)
        simple = close >= 0 and text.find("\\", j + 1, close) < 0
        k = close + 1
    else:
        k = text.find(")", j)
        inner = text[j:k].rstrip(_WHITESPACE) if k >= 0 else ""
        simple = k >= 0 and not any(c in inner for c in "\"'(\\ \t\n\r\f")
    if not simple:  # escapes or oddities: the exact (slower) pattern decides
        m = _URL_TOKEN.match(text, i)
        return m.end() if m else -1
    while k < n and text[k] in _WHITESPACE:
        k += 1
    return k + 1 if k < n and text[k] == ")" else -1


def _ascii_lower(text: str) -> bytes:
    # same indices as `text` (one byte per character), so bytes.find can locate tokens at C speed
    return text.encode("ascii", "replace").lower()


class _Token(NamedTuple):
    kind: str  # comment, string, url, import, imageset
    start: int
    end: int
    match: re.Match[str] | None = None  # for @import: its target and the rest of the rule


def _css_tokens(text: str, low: bytes) -> Iterator[_Token]:
    """The comments, strings, url(), @import and image-set( tokens of `text`, in order.

    Python's regex engine crawls over large stylesheets (and megabyte data: fonts); finding
    where a token can start with bytes.find, and its end with str.find, is many times faster.
    """
    nexts = [low.find(token) for token in _SCAN_STARTS]
    n = len(text)
    pos = 0
    while True:
        for k, at in enumerate(nexts):
            if 0 <= at < pos:
                nexts[k] = low.find(_SCAN_STARTS[k], pos)
        found = [at for at in nexts if at >= 0]
        if not found:
            return
        start = min(found)
        pos = start + 1
        c = text[start]
        if c == "/":
            end = text.find("*/", start + 2)
            token = _Token("comment", start, n if end < 0 else end + 2)
        elif c in "\"'":
            token = _Token("string", start, _string_end(text, start))
        elif c == "@":
            m = _CSS_IMPORT.match(text, start)
            if m is None:
                continue
            token = _Token("import", start, m.end(), m)
        elif _word_before(text, start):  # myurl(, background-image-set(: not ours
            if not low.startswith(b"-webkit-image-set(", start - 8):
                continue
            token = _Token("imageset", start - 8, start + 10)
        elif low[start] == ord("u"):
            end = _url_end(text, start)
            if end < 0:
                continue
            token = _Token("url", start, end)
        else:
            token = _Token("imageset", start, start + 10)
        yield token
        pos = max(token.end, pos)


def _word_before(text: str, i: int) -> bool:
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_-")


def _css_unescape(value: str) -> str:
    if "\\" not in value:
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(1):
            code = int(m.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return "" if m.group(2) == "\n" else m.group(2)

    return _CSS_ESCAPE.sub(one, value)


def _url_token_value(token: str) -> str:
    inner = token[token.index("(") + 1 : token.rindex(")")].strip(_WHITESPACE)
    if inner[:1] in ('"', "'"):
        inner = inner[1:-1] if len(inner) > 1 and inner[-1] == inner[0] else inner[1:]
    return _css_unescape(inner)


def _string_value(token: str) -> str:
    inner = token[1:-1] if len(token) > 1 and token[-1] == token[0] else token[1:]
    return _css_unescape(inner)


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split CSS `text` on `sep` outside strings, comments and parentheses."""
    parts, depth, start, i, n = [], 0, 0, 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            i = _string_end(text, i)
            continue
        if c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if c in "uU" and text[i : i + 4].lower() == "url(" and (end := _url_end(text, i)) > 0:
            i = end  # data: fonts are long: skip them whole
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth = max(depth - 1, 0)
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _block_end(text: str, start: int) -> int:
    """Index of the `}` closing the block whose body starts at `start` (or len(text))."""
    depth, i, n = 1, start, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            i = _string_end(text, i)
            continue
        if c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if c in "uU" and text[i : i + 4].lower() == "url(" and (end := _url_end(text, i)) > 0:
            i = end
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n


def _font_source(candidate: str) -> tuple[str, bool]:
    """("url", supported?) or ("local", True) or ("other", False) for one entry of a src list."""
    stripped = len(candidate) - len(candidate.lstrip(_WHITESPACE))
    head = candidate[stripped : stripped + 6].lower()
    if head.startswith("local("):
        return "local", True
    end = _url_end(candidate, stripped) if head.startswith("url(") else -1
    if end < 0:
        return "other", False
    hint = _FONT_FORMAT.search(candidate, end)
    if hint:
        return "url", hint.group(1).lower() in _FONT_FORMATS
    kind = _extension_type(_url_token_value(candidate[stripped:end]))
    return "url", kind not in ("application/vnd.ms-fontobject", "image/svg+xml")


def _prune_font_sources(css: str, low: bytes) -> str:
    """Keep, in each @font-face, only the `src` a browser would download: the first supported one.

    Fonts are the heaviest part of most pages and are usually offered in 3-5 formats; a browser
    uses one. Older `src` declarations (IE fallbacks) are overridden by the last one and dropped.
    """
    out, pos = [], 0
    while (at := low.find(b"@font-face", pos)) >= 0:
        m = _FONT_FACE.match(css, at)
        if m is None:
            out.append(css[pos : at + 1])
            pos = at + 1
            continue
        body_start = m.end()
        body_end = _block_end(css, body_start)
        declarations = _split_top_level(css[body_start:body_end], ";")
        src_indexes = [
            i for i, d in enumerate(declarations) if d.partition(":")[0].strip().lower() == "src"
        ]
        if src_indexes:
            last = src_indexes[-1]
            name, _, value = declarations[last].partition(":")
            candidates = _split_top_level(value, ",")
            kinds = [_font_source(c) for c in candidates]
            urls = [i for i, (kind, _) in enumerate(kinds) if kind == "url"]
            chosen = next((i for i in urls if kinds[i][1]), urls[0] if urls else -1)
            kept = [c for i, c in enumerate(candidates) if i == chosen or kinds[i][0] == "local"]
            declarations[last] = f"{name}:{','.join(kept)}"
            declarations = [
                d for i, d in enumerate(declarations) if i == last or i not in src_indexes
            ]
        out.append(css[pos:body_start])
        out.append(";".join(declarations))
        pos = body_end
    out.append(css[pos:])
    return "".join(out)


def _decode_css(body: bytes, charset: str | None) -> str:
    """CSS bytes to text: BOM, then the HTTP charset, then @charset, then UTF-8 (CSS Syntax 3.3)."""
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:].decode("utf-8", "replace")
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return body.decode("utf-16", "replace")
    label = charset
    if not label:
        m = re.match(rb'@charset "([^"]{1,40})";', body)
        label = m.group(1).decode("ascii", "replace") if m else None
    codec = resolve_encoding(label) if label else None
    if not codec or codec.startswith("utf-16"):
        codec = "utf-8"
    try:
        return body.decode(codec, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


def _neutralize_refs(text: str) -> str:
    # a page that itself contains "kb-asset:<hex>" must not be able to name another stored blob
    return text.replace(ASSET_SCHEME, "kb-asset\u200b:") if ASSET_SCHEME in text else text


# --------------------------------------------------------------------------------------------
# srcset / sizes

_REFERENCE_VIEWPORT = 1280  # CSS px; candidates are chosen as a desktop browser at 1x would
_REFERENCE_DENSITY = 1.0
_MEDIA_FEATURE = re.compile(r"\(\s*(min|max)-width\s*:\s*([\d.]+)(px|em|rem)\s*\)", re.IGNORECASE)
_LENGTH = re.compile(r"^([\d.]+)(px|vw|em|rem)$", re.IGNORECASE)


def _parse_srcset(value: str) -> list[tuple[str, str]]:
    """HTML's srcset parsing: [(url, descriptors)]."""
    out, i, n = [], 0, len(value)
    while i < n:
        while i < n and (value[i] in _WHITESPACE or value[i] == ","):
            i += 1
        if i >= n:
            break
        start = i
        while i < n and value[i] not in _WHITESPACE:
            i += 1
        url = value[start:i]
        descriptor = ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            start, depth = i, 0
            while i < n and not (value[i] == "," and depth == 0):
                depth += value[i] == "("
                depth -= value[i] == ")"
                i += 1
            descriptor = value[start:i].strip(_WHITESPACE)
        if url:
            out.append((url, descriptor))
    return out


def _media_matches(condition: str) -> bool | None:
    condition = condition.strip().lower()
    if condition in ("", "all", "screen"):
        return True
    parts = [
        p.strip() for p in re.split(r"\band\b", condition) if p.strip() not in ("", "screen", "all")
    ]
    result = True
    for part in parts:
        m = _MEDIA_FEATURE.fullmatch(part)
        if not m:
            return None
        px = float(m.group(2)) * (16 if m.group(3).lower() != "px" else 1)
        wide_enough = px <= _REFERENCE_VIEWPORT
        result &= wide_enough if m.group(1).lower() == "min" else px >= _REFERENCE_VIEWPORT
    return result


def _sizes_px(sizes: str | None) -> float:
    for entry in _split_top_level(sizes or "", ","):
        entry = entry.strip()
        if not entry:
            continue
        condition, _, length = entry.rpartition(" ")
        if condition and _media_matches(condition) is not True:
            continue
        m = _LENGTH.match(length.strip())
        if not m:
            continue
        number, unit = float(m.group(1)), m.group(2).lower()
        return {"px": number, "vw": number * _REFERENCE_VIEWPORT / 100}.get(unit, number * 16)
    return float(_REFERENCE_VIEWPORT)


def _rank_candidates(candidates: list[tuple[str, str]], sizes: str | None) -> list[tuple[str, str]]:
    """Candidates best first: the one a browser at the reference viewport would pick, then the rest."""
    scored = []
    for url, descriptor in candidates:
        width = density = None
        for d in descriptor.split():
            try:
                if d[-1:] in ("w", "W"):
                    width = float(d[:-1])
                elif d[-1:] in ("x", "X"):
                    density = float(d[:-1])
            except ValueError:
                pass
        scored.append((url, descriptor, width, density))
    if any(width for _, _, width, _ in scored):
        target = _sizes_px(sizes) * _REFERENCE_DENSITY
        values = [(url, d, width or 0.0) for url, d, width, _ in scored]
    else:
        target = _REFERENCE_DENSITY
        values = [(url, d, density or 1.0) for url, d, _, density in scored]
    # enough resolution first (smallest such), then the largest of the rest
    values.sort(key=lambda c: (c[2] < target, c[2] if c[2] >= target else -c[2]))
    return [(url, d) for url, d, _ in values]


# --------------------------------------------------------------------------------------------
# HTML

_HTML_PARSER = etree.HTMLParser(  # plain elements: lxml.html's class lookup costs per element
    encoding="utf-8", remove_comments=True, remove_pis=True, huge_tree=True, default_doctype=False
)
_SVG_PARSER = etree.XMLParser(
    remove_comments=True, remove_pis=True, no_network=True, load_dtd=False, huge_tree=False
)
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
_PLACEHOLDER = re.compile(
    r"placeholder|blank\.|spacer|lazy|loading|transparent\.|pixel\.|1x1|grey\.gif", re.I
)
_REMOVED_HTTP_EQUIV = _words(
    "refresh content-type content-security-policy content-security-policy-report-only "
    "set-cookie link default-style"
)
_SPRITE_STYLE = "position:absolute;width:0;height:0;overflow:hidden"
_ID_REF = re.compile(r"url\(\s*(['\"]?)#([^)'\"]+)\1\s*\)")
_SVG_NS = "{http://www.w3.org/2000/svg}"
_XLINK_NS = "{http://www.w3.org/1999/xlink}"


def _remove(el: etree._Element) -> None:
    """Remove `el` and its subtree, keeping the text that follows it."""
    parent = el.getparent()
    if parent is None:
        return
    if el.tail:
        previous = el.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def _unwrap(el: etree._Element) -> None:
    """Replace `el` by its children and text."""
    parent = el.getparent()
    if parent is None:
        return
    index = parent.index(el)
    previous = el.getprevious()
    text = el.text or ""
    if previous is not None:
        previous.tail = (previous.tail or "") + text
    else:
        parent.text = (parent.text or "") + text
    children = list(el)
    for offset, child in enumerate(children):
        parent.insert(index + offset, child)
    tail = el.tail or ""
    parent.remove(el)
    if tail:
        if children:
            children[-1].tail = (children[-1].tail or "") + tail
        elif previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail


def _replace(el: etree._Element, new: etree._Element) -> None:
    new.tail = el.tail
    parent = el.getparent()
    if parent is not None:
        parent.replace(el, new)


def _is_lazy(el: etree._Element) -> bool:
    return any(el.get(a) for a in _LAZY_SRC + _LAZY_SRCSET)


def _integrity_ok(body: bytes, integrity: str) -> bool:
    """Subresource Integrity: the body matches one of the strongest hashes listed (or none listed)."""
    strength = {"sha256": 1, "sha384": 2, "sha512": 3}
    hashes: dict[str, list[str]] = {}
    for token in integrity.split():
        algorithm, _, value = token.partition("-")
        if algorithm.lower() in strength and value:
            hashes.setdefault(algorithm.lower(), []).append(value.partition("?")[0])
    if not hashes:
        return True
    algorithm = max(hashes, key=strength.__getitem__)
    digest = base64.b64encode(hashlib.new(algorithm, body).digest()).decode("ascii")
    return any(value == digest for value in hashes[algorithm])


class _Inliner:
    """One capture: fetches each distinct URL once, collects assets, counts outcomes."""

    def __init__(self, fetch: Fetcher, limits: Limits) -> None:
        self.fetch = fetch
        self.limits = limits
        self.assets: dict[str, Asset] = {}
        self.failures: list[tuple[str, str]] = []
        self.bytes_fetched = 0
        self._fetches = 0
        self._responses: dict[str, Response | None] = {}
        self._refs: dict[tuple[str, str], str | None] = {}
        self._inlined_urls: set[str] = set()
        self._failure_keys: set[tuple[str, str]] = set()
        self._sprites: dict[str, str | None] = {}
        self._sprite_parent: etree._Element | None = None
        self._root: etree._Element | None = None
        self._icon = ""

    # ---- outcomes ---------------------------------------------------------------------------

    def _fail(self, url: str, sentence: str) -> None:
        if (url, sentence) not in self._failure_keys:
            self._failure_keys.add((url, sentence))
            self.failures.append((url, sentence))

    def _store(self, url: str, body: bytes, content_type: str) -> str:
        sha = hashlib.sha256(body).hexdigest()
        self.assets.setdefault(sha, Asset(content_type, body))
        self._inlined_urls.add(url)
        return ASSET_SCHEME + sha

    # ---- fetching ---------------------------------------------------------------------------

    def _get(self, url: str) -> Response | None:
        """The successful response for `url`, fetched at most once; None (and a failure) if not."""
        if url in self._responses:
            return self._responses[url]
        self._responses[url] = None
        limits = self.limits
        if self._fetches >= limits.max_assets or self.bytes_fetched >= limits.max_total_bytes:
            self._fail(url, LIMIT_SENTENCE)
            return None
        self._fetches += 1
        try:
            response = self.fetch(url)
        except CaptureError as exc:
            self._fail(url, exc.sentence)
            return None
        except Exception:  # noqa: BLE001 - a failing asset is skipped and counted, never fatal
            self._fail(url, "it could not be fetched")
            return None
        self.bytes_fetched += len(response.body)
        if self.bytes_fetched > limits.max_total_bytes:
            self._fail(url, LIMIT_SENTENCE)
            return None
        if not 200 <= response.status < 300:
            self._fail(url, f"the server answered {response.status}")
            return None
        self._responses[url] = response
        return response

    def _memo(self, kind: str, url: str, make: Callable[[str], str | None]) -> str | None:
        key = (kind, url)
        if key not in self._refs:
            self._refs[key] = make(url)
        return self._refs[key]

    def image(self, url: str) -> str | None:
        def make(url: str) -> str | None:
            response = self._get(url)
            if response is None:
                return None
            body = response.body
            sniffed = _sniff_image(body)
            declared = (response.content_type or "").lower()
            if sniffed == "image/svg+xml" or (sniffed and declared not in _IMAGE_TYPES):
                content_type = sniffed
            elif declared in _IMAGE_TYPES and body:
                content_type = declared
            elif declared in _VAGUE_TYPES and _extension_type(url).startswith("image/") and body:
                content_type = _extension_type(url)
            else:
                self._fail(url, "it is not an image")
                return None
            return self._store(url, body, content_type)

        return self._memo("image", url, make)

    def resource(self, url: str) -> str | None:
        """Anything CSS points at (images, fonts, cursors) or a subtitle track."""

        def make(url: str) -> str | None:
            response = self._get(url)
            if response is None:
                return None
            body = response.body
            declared = (response.content_type or "").lower()
            sniffed = _sniff_image(body)
            if sniffed and (
                declared in _VAGUE_TYPES
                or sniffed == "image/svg+xml"
                or declared.startswith("image/")
            ):
                content_type = sniffed
            elif declared == "text/html" or (declared in _VAGUE_TYPES and _looks_like_html(body)):
                self._fail(url, "the server sent a web page instead of the file")
                return None
            elif declared in _VAGUE_TYPES:
                content_type = _extension_type(url) or "application/octet-stream"
            else:
                content_type = declared
            if not _SAFE_TYPE.fullmatch(content_type):
                content_type = "application/octet-stream"
            return self._store(url, body, content_type)

        return self._memo("resource", url, make)

    def media(self, url: str) -> str | None:
        def make(url: str) -> str | None:
            response = self._get(url)
            if response is None:
                return None
            if len(response.body) > self.limits.max_media_bytes:
                megabytes = self.limits.max_media_bytes / (1024 * 1024)
                self._fail(url, f"audio and video over {megabytes:g} MB are left out")
                return None
            declared = (response.content_type or "").lower()
            if declared == "text/html" or not response.body:
                self._fail(url, "it is not an audio or video file")
                return None
            if declared in _VAGUE_TYPES or not _SAFE_TYPE.fullmatch(declared):
                declared = _extension_type(url) or "application/octet-stream"
            return self._store(url, response.body, declared)

        return self._memo("media", url, make)

    def stylesheet(
        self, url: str, stack: tuple[str, ...] = (), integrity: str | None = None
    ) -> str | None:
        if integrity:
            response = self._get(url)
            if response is None:
                return None
            if not _integrity_ok(response.body, integrity):
                self._fail(url, "it does not match its integrity hash")
                return None
        if url in stack or len(stack) > 20:  # an @import cycle (or absurd depth): drop the rule
            return None
        key = ("css", url)
        if key in self._refs:
            return self._refs[key]
        response = self._get(url)
        if response is None:
            self._refs[key] = None
            return None
        declared = (response.content_type or "").lower()
        if declared == "text/html" or (declared != "text/css" and _looks_like_html(response.body)):
            self._fail(url, "it is not a stylesheet")
            self._refs[key] = None
            return None
        text = _decode_css(response.body, response.charset)
        base = response.final_url or url
        css = self.css(text, base, (*stack, url))
        ref = self._store(url, css.encode("utf-8"), CSS_TYPE)
        self._refs[key] = ref
        return ref

    def data_stylesheet(self, data_url: str, stack: tuple[str, ...]) -> str | None:
        """A data: stylesheet that itself refers to other files: rewritten like any other.

        Its relative references cannot resolve (a data: URL has no base) and are dropped.
        Returns None when the data: URL can stay as it is.
        """
        parsed = _parse_data_url(data_url)
        if parsed is None:
            return EMPTY_DATA_URI
        text = _decode_css(parsed[1], None)
        low = _ascii_lower(text)
        if not any(hint in low for hint in _CSS_HINTS):
            return None
        css = self.css(text, None, stack)
        sha = hashlib.sha256(css.encode("utf-8")).hexdigest()
        self.assets.setdefault(sha, Asset(CSS_TYPE, css.encode("utf-8")))
        return ASSET_SCHEME + sha

    # ---- CSS ----------------------------------------------------------------------------------

    def css(
        self, text: str, base: str | None, stack: tuple[str, ...], strings_are_urls: bool = False
    ) -> str:
        """Rewrite every url(), @import and image-set() of CSS `text` to kb-asset: references."""
        text = _neutralize_refs(_CHARSET_RULE.sub("", text, count=1))
        low = _ascii_lower(text)
        if not strings_are_urls and not any(hint in low for hint in _CSS_HINTS):
            return text
        if b"@font-face" in low:
            text = _prune_font_sources(text, low)
            low = _ascii_lower(text)
        out: list[str] = []
        pos = 0
        for token in _css_tokens(text, low):
            kind, start, end = token.kind, token.start, token.end
            if start < pos:  # inside an image-set() rewritten as a whole
                continue
            out.append(text[pos:start])
            pos = end
            if kind == "url":
                value = text[start:end]
                out.append(self._css_url(value, _url_token_value(value), base))
            elif kind == "import" and token.match is not None:
                out.append(self._css_import(token.match, base, stack))
            elif kind == "imageset":
                close = _block_end_paren(text, end)
                inner = self.css(text[end:close], base, stack, strings_are_urls=True)
                out.append(text[start:end] + inner)
                pos = close
            elif kind == "string" and strings_are_urls:
                value = text[start:end]
                out.append(self._css_url(value, _string_value(value), base, as_string=True))
            else:
                out.append(text[start:end])
        out.append(text[pos:])
        return "".join(out)

    def _css_url(self, token: str, value: str, base: str | None, as_string: bool = False) -> str:
        value = _clean(value)
        if not value or value.startswith("#") or _scheme(value) == "data":
            return token
        url = _absolute(base, value)
        ref = None
        if url is not None:
            address, fragment = urldefrag(url)
            ref = self.resource(address)
            if ref and fragment:
                ref += "#" + fragment
        target = ref or EMPTY_DATA_URI
        return f'"{target}"' if as_string else f'url("{target}")'

    def _css_import(self, m: re.Match[str], base: str | None, stack: tuple[str, ...]) -> str:
        target = m.group("target")
        value = _url_token_value(target) if target[:1] not in ('"', "'") else _string_value(target)
        value = _clean(value)
        rest = m.group("rest")
        if _scheme(value) == "data":
            ref = self.data_stylesheet(value, stack)
            return m.group(0) if ref is None else f'@import url("{ref}"){rest};'
        url = _absolute(base, value)
        ref = self.stylesheet(urldefrag(url)[0], stack) if url else None
        return f'@import url("{ref}"){rest};' if ref else ""

    # ---- the document -----------------------------------------------------------------------

    def run(self, html: str, base_url: str) -> Archive:
        root, doctype = _parse(html)
        self._root = root
        if ASSET_SCHEME in html:
            _neutralize_document(root)
        base = self._document_base(root, base_url)
        self._unwrap_noscript(root)
        self._favicon(root, base)
        self._walk(root, base)
        self._frameset(root)
        _declare_utf8(root)
        skeleton = lxml.html.tostring(root, encoding="unicode", doctype=doctype or None)
        inlined = len(self._inlined_urls)
        icon = self.assets.get(self._icon)
        return Archive(
            html=skeleton,
            assets=self.assets,
            inlined=inlined,
            failed=len(self.failures),
            failures=self.failures,
            bytes_fetched=self.bytes_fetched,
            # the library shows it as an <img>: only ever an image asset of this archive
            icon=self._icon if icon is not None and icon.content_type.startswith("image/") else "",
        )

    def _document_base(self, root: etree._Element, base_url: str) -> str:
        base = base_url
        found = False
        for el in list(root.iter("base")):
            href = el.get("href")
            if href is not None and not found:
                found = True
                resolved = _absolute(base_url, href)
                if resolved:
                    base = resolved
            _remove(el)
        return base

    def _unwrap_noscript(self, root: etree._Element) -> None:
        # scripts never run in the archive, so what a page shows without them is what it shows
        for el in list(root.iter("noscript")):
            if len(el) == 0 and el.text and "<" in el.text:  # a parser that kept it as raw text
                try:
                    parts = lxml.html.fragments_fromstring(el.text)
                except (etree.ParserError, ValueError):
                    parts = []
                el.text = parts.pop(0) if parts and isinstance(parts[0], str) else None
                el.extend(parts)
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
                _remove(previous)
            _unwrap(el)

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
            if not done and _scheme(_clean(href)) == "data":
                done = True
                continue
            url = _absolute(base, href) if not done else None
            ref = self.image(urldefrag(url)[0]) if url else None
            if ref:
                el.set("href", ref)
                done = True
                self._icon = ref[len(ASSET_SCHEME) :]
            else:
                _remove(el)

    def _walk(self, root: etree._Element, base: str) -> None:
        stack = [root]
        while stack:
            el = stack.pop()
            try:
                keep = self._element(el, base)
            except ValueError:  # lxml refusing a value: lose the element, never the page
                logger.warning("removed an element inline could not rewrite", exc_info=True)
                _remove(el)
                keep = False
            if keep:
                stack.extend(el[::-1])  # children, so that they pop in document order

    def _element(self, el: etree._Element, base: str) -> bool:
        """Make one element safe and self-contained; False when it was removed or replaced."""
        tag = el.tag
        if tag == "script" or not isinstance(tag, str):
            _remove(el)
            return False
        attrib = el.attrib
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
            attrib["style"] = self.css(style, base, ())
        if needs_sweep:
            self._sweep(el, tag)
        return True

    def _sweep(self, el: etree._Element, tag: str) -> None:
        """Drop every URL attribute that still points at the network (or at script)."""
        attrib = el.attrib
        for name in [n for n in attrib.keys() if n in _URL_ATTRS]:  # noqa: SIM118
            value = attrib[name]
            if (name == "href" and tag in _LINK_TAGS) or (tag == "a" and name == "xlink:href"):
                if _scheme(_clean(value)) in ("javascript", "vbscript"):
                    del attrib[name]
                continue
            if name == "srcset":
                if all(_is_inert(url) for url, _ in _parse_srcset(value)):
                    continue
            elif _is_inert(value) and name not in ("srcdoc", "ping", "xml:base"):
                continue
            del attrib[name]
        for name in _SVG_URL_PROPERTIES.intersection(attrib.keys()):
            value = attrib[name]
            if "url(" in value and not _ID_REF.search(value):
                del attrib[name]

    # ---- element handlers (return False when the element is gone) ------------------------------

    def _link(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        href = el.get("href") or ""
        if _icon_kind(el) is not None and href.startswith((ASSET_SCHEME, "data:")):
            return True
        rels = set((el.get("rel") or "").lower().split())
        if "stylesheet" not in rels or "alternate" in rels or el.get("disabled") is not None:
            _remove(el)  # preload, prefetch, manifest, canonical, alternate...: nothing to keep
            return False
        href = _clean(href)
        if _scheme(href) == "data":
            ref = self.data_stylesheet(href, ())
            if ref is not None:
                el.set("href", ref)
            return True
        url = _absolute(base, href)
        ref = self.stylesheet(urldefrag(url)[0], (), integrity) if url else None
        if not ref:
            _remove(el)
            return False
        el.set("href", ref)
        return True

    def _style(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        if el.text:
            el.text = self.css(el.text, base, ())
        return True

    def _img(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        _promote_lazy(el)
        self._srcset(el, base)
        src = el.get("src")
        if src is not None and not _is_inert(src):
            url = _absolute(base, src)
            ref = self._image_ref(url)
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
        candidates = _parse_srcset(srcset)
        if candidates and all(_is_inert(url) for url, _ in candidates):
            return True
        for candidate, descriptor in _rank_candidates(candidates, el.get("sizes")):
            if _is_inert(candidate):
                continue
            ref = self._image_ref(_absolute(base, candidate))
            if ref:
                el.set("srcset", f"{ref} {descriptor}".strip())
                src = el.get("src")
                if el.tag == "img" and (
                    src is None or not _is_inert(src) or src.startswith("data:")
                ):
                    el.set("src", ref)  # the fallback src would not be used: no second download
                return True
        del el.attrib["srcset"]
        return False

    def _image_ref(self, url: str | None) -> str | None:
        if not url:
            return None
        address, fragment = urldefrag(url)
        ref = self.image(address)
        return f"{ref}#{fragment}" if ref and fragment else ref

    def _source(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        parent = el.getparent()
        if parent is not None and parent.tag in ("video", "audio"):
            return True  # handled with its media element
        _promote_lazy(el)
        declared = (el.get("type") or "").strip().lower()
        if declared not in _SUPPORTED_IMAGE_SOURCE_TYPES:
            _remove(el)  # a format browsers do not show (JPEG XL, HEIC...): never fetched
            return False
        if el.get("srcset") is None and el.get("src"):
            el.set("srcset", el.attrib.pop("src"))
        if not self._srcset(el, base):
            _remove(el)
            return False
        return True

    def _media_element(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        poster = el.get("poster")
        if poster is not None and not _is_inert(poster):
            ref = self._image_ref(_absolute(base, poster))
            if ref:
                el.set("poster", ref)
            else:
                del el.attrib["poster"]
        first_url = None
        playable = False
        src = el.get("src")
        if src is not None and not _is_inert(src):
            url = _absolute(base, src)
            first_url = url
            ref = self.media(urldefrag(url)[0]) if url else None
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
                if value is None or _is_inert(value):
                    playable = playable or bool(value)
                    continue
                url = _absolute(base, value)
                first_url = first_url or url
                ref = self.media(urldefrag(url)[0]) if url else None
                if ref:
                    child.set("src", ref)
                    playable = True
                else:
                    _remove(child)
            elif child.tag == "track":
                value = child.get("src")
                if value is not None and not _is_inert(value):
                    url = _absolute(base, value)
                    ref = self.resource(urldefrag(url)[0]) if url else None
                    if ref:
                        child.set("src", ref)
                    else:
                        _remove(child)
        if not playable and first_url:
            link = lxml.html.Element("a", href=first_url)
            link.text = el.get("title") or first_url
            _replace(el, link)
            return False
        return True

    def _embedded(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        """Frames, objects, embeds: a link to what they showed (an image stays an image)."""
        value = el.get("data") if el.tag == "object" else el.get("src") or el.get("data-src")
        url = _absolute(base, value) if value else None
        declared = (el.get("type") or "").strip().lower()
        if (
            url
            and el.tag in ("object", "embed")
            and (declared.startswith("image/") or _extension_type(url).startswith("image/"))
        ):
            ref = self._image_ref(url)
            if ref:
                img = lxml.html.Element("img", src=ref)
                for name in ("width", "height", "title", "class", "id"):
                    if el.get(name):
                        img.set(name, el.get(name))
                img.set("alt", el.get("title") or el.get("aria-label") or "")
                _replace(el, img)
                return False
        if not url:
            _remove(el)
            return False
        link = lxml.html.Element("a", href=url)
        link.set("class", "kb-embedded")
        link.text = el.get("title") or url
        if el.tag == "frame":
            paragraph = lxml.html.Element("p")
            paragraph.append(link)
            link = paragraph
        _replace(el, link)
        return False

    def _anchor(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        for name in ("href", "xlink:href"):
            value = el.get(name)
            if value is None:
                continue
            ref = _clean(value)
            scheme = _scheme(ref)
            if scheme in ("javascript", "vbscript") or (name == "xlink:href" and el.get("href")):
                del el.attrib[name]
            elif ref.startswith("#") or (scheme and scheme not in ("http", "https")):
                if name == "xlink:href":
                    _set_href(el, ref)
            elif name == "xlink:href":
                _set_href(el, _join(base, ref))
            else:
                el.set(name, _join(base, ref) if ref else base)
        return True

    def _form(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        for name in ("action", "target"):
            el.attrib.pop(name, None)
        return True

    def _input(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        src = el.get("src")
        if src is not None and (el.get("type") or "").lower() == "image" and not _is_inert(src):
            ref = self._image_ref(_absolute(base, src))
            if ref:
                el.set("src", ref)
        return True

    def _background(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        value = el.get("background")
        if value is not None and not _is_inert(value):
            ref = self._image_ref(_absolute(base, value))
            if ref:
                el.set("background", ref)
        return True

    def _svg_image(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        for name in ("href", "xlink:href"):
            value = el.get(name)
            if value is not None and not _is_inert(value):
                ref = self._image_ref(_absolute(base, value))
                if ref and name == "href":
                    el.set("href", ref)
                elif ref:
                    _set_href(el, ref)
        return True

    def _use(self, el: etree._Element, base: str, integrity: str | None) -> bool:
        value = el.get("href") if el.get("href") is not None else el.get("xlink:href")
        if value is None or _clean(value).startswith("#"):
            return True
        url = _absolute(base, value)
        target = None
        if url:
            address, fragment = urldefrag(url)
            prefix = self.sprite(address) if fragment else None
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
            _remove(el)
            return False
        return True

    # ---- external SVG sprites (<use href="icons.svg#id">) --------------------------------------

    def sprite(self, url: str) -> str | None:
        """Copy an external SVG file into the page once; the id prefix its ids got, or None.

        `<use>` cannot reference a data: URL, so the symbols must live in the document itself.
        """
        if url in self._sprites:
            return self._sprites[url]
        self._sprites[url] = None
        response = self._get(url)
        if response is None:
            return None
        try:
            svg = etree.fromstring(response.body, parser=_SVG_PARSER)
        except (etree.XMLSyntaxError, ValueError):
            svg = None
        if svg is None or etree.QName(svg).localname != "svg":
            self._fail(url, "it is not a valid SVG file")
            return None
        sha = hashlib.sha256(response.body).hexdigest()
        prefix = f"kb{sha[:10]}-"
        self._sanitize_sprite(svg, prefix, response.final_url or url)
        container = lxml.html.Element("svg")
        container.set("aria-hidden", "true")
        container.set("focusable", "false")
        container.set("style", _SPRITE_STYLE)
        container.set("data-kb-sprite", "")
        container.extend(list(svg))
        body = self._body()
        body.insert(len(self._sprites_inserted()), container)
        self._inlined_urls.add(url)
        self._sprites[url] = prefix
        return prefix

    def _sprites_inserted(self) -> list[etree._Element]:
        body = self._body()
        return [c for c in body if c.tag == "svg" and c.get("data-kb-sprite") is not None]

    def _body(self) -> etree._Element:
        root = self._root
        body = root.find("body")
        if body is None:
            body = etree.SubElement(root, "body")
        return body

    def _sanitize_sprite(self, svg: etree._Element, prefix: str, base: str) -> None:
        """Namespaces off, ids prefixed, scripts and handlers out, its own images inlined."""

        def rename_refs(value: str) -> str:
            return _ID_REF.sub(
                lambda m: f"url({m.group(1)}#{prefix}{m.group(2)}{m.group(1)})", value
            )

        stack = [svg]
        while stack:
            el = stack.pop()
            tag = el.tag
            name = etree.QName(el).localname
            foreign = tag.startswith("{") and not tag.startswith(_SVG_NS)
            if foreign or name in ("script", "foreignObject", "iframe"):
                _remove(el)
                continue
            el.tag = name
            for key in list(el.attrib):
                value = el.attrib.pop(key)
                if key.startswith("{") and not key.startswith(_XLINK_NS):
                    continue
                local = etree.QName(key).localname if key.startswith("{") else key
                if local.lower().startswith("on") or ":" in local:
                    continue
                if local == "href":
                    value = self._sprite_href(name, _clean(value), prefix, base)
                    if not value:
                        continue
                elif local == "id":
                    value = prefix + value
                elif local == "style":
                    value = rename_refs(self.css(value, base, ()))
                elif "url(" in value:
                    value = rename_refs(value)
                    if not _ID_REF.search(value):
                        continue
                el.set(local, value)
            if name == "style" and el.text:
                el.text = rename_refs(self.css(el.text, base, ()))
            stack.extend(c for c in el if isinstance(c.tag, str))
        etree.cleanup_namespaces(svg)

    def _sprite_href(self, tag: str, ref: str, prefix: str, base: str) -> str:
        if ref.startswith("#"):
            return f"#{prefix}{ref[1:]}"
        if tag == "image":
            return self._image_ref(_absolute(base, ref)) or ""
        if tag == "a":
            return _absolute(base, ref) or ""
        return ""

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


def _block_end_paren(text: str, start: int) -> int:
    depth, i, n = 1, start, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            i = _string_end(text, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n


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


def _promote_lazy(el: etree._Element) -> None:
    """Lazy-loading scripts never run in the archive: use the real image they would have loaded."""
    attrib = el.attrib
    src = attrib.get("src")
    lazy_src = next((attrib[a] for a in _LAZY_SRC if attrib.get(a)), None)
    lazy_srcset = next((attrib[a] for a in _LAZY_SRCSET if attrib.get(a)), None)
    if lazy_src is None and lazy_srcset is None:
        return
    placeholder = (
        not src
        or not src.strip()
        or src.strip().startswith("data:")
        or bool(_PLACEHOLDER.search(src))
    )
    if lazy_src and (placeholder or src == lazy_src) and el.tag == "img":
        attrib["src"] = lazy_src
    if lazy_srcset and (not attrib.get("srcset") or attrib["srcset"].strip().startswith("data:")):
        attrib["srcset"] = lazy_srcset
    elif lazy_src and placeholder and attrib.get("srcset", "").strip().startswith("data:"):
        del attrib["srcset"]  # a placeholder srcset would win over the promoted src
    for name in _LAZY_SRC + _LAZY_SRCSET:
        attrib.pop(name, None)
    classes = (attrib.get("class") or "").split()
    if any(c in ("lazyload", "lazy", "lazyloading") for c in classes):
        kept = [c for c in classes if c not in ("lazyload", "lazy", "lazyloading")]
        attrib["class"] = " ".join([*kept, "lazyloaded"])


# C0 controls are not allowed in lxml strings (the parser keeps some in attribute values); a
# form feed is whitespace to HTML
_CONTROLS = {**dict.fromkeys([*range(0, 9), 11, *range(14, 32)]), 12: " "}


def _parse(html: str) -> tuple[etree._Element, str]:
    data = html.translate(_CONTROLS).encode("utf-8", "replace")
    root = None
    if data.strip():
        try:
            root = lxml.html.document_fromstring(data, parser=_HTML_PARSER)
        except (etree.ParserError, ValueError):
            root = None
    if root is None:
        root = lxml.html.document_fromstring(
            b"<html><head></head><body></body></html>", parser=_HTML_PARSER
        )
    _fix_void_elements(root)
    doctype = root.getroottree().docinfo.doctype or ""
    return root, doctype


_UNKNOWN_VOID = ("source", "track", "wbr", "embed", "keygen")


def _fix_void_elements(root: etree._Element) -> None:
    """libxml2 does not know these HTML5 void elements and nests what follows inside them."""
    for el in list(root.iter(*_UNKNOWN_VOID)):
        parent = el.getparent()
        if parent is None or (len(el) == 0 and not el.text):
            continue
        moved = list(el)
        after = el.tail or ""
        el.tail = el.text
        el.text = None
        if moved:
            moved[-1].tail = (moved[-1].tail or "") + after
            index = parent.index(el)
            for offset, child in enumerate(moved, start=1):
                parent.insert(index + offset, child)
        else:
            el.tail = (el.tail or "") + after


def _neutralize_document(root: etree._Element) -> None:
    for el in root.iter(etree.Element):
        if el.text and ASSET_SCHEME in el.text:
            el.text = _neutralize_refs(el.text)
        if el.tail and ASSET_SCHEME in el.tail:
            el.tail = _neutralize_refs(el.tail)
        for name, value in el.attrib.items():
            if ASSET_SCHEME in value:
                el.attrib[name] = _neutralize_refs(value)


def _declare_utf8(root: etree._Element) -> None:
    head = root.find("head")
    if head is None:
        head = lxml.html.Element("head")
        root.insert(0, head)
    for el in list(head.iter("meta")):
        if el.get("charset") is not None:
            _remove(el)
    meta = lxml.html.Element("meta", charset="utf-8")
    head.insert(0, meta)
    head.text = None


_HANDLERS: dict[str, Callable[[_Inliner, etree._Element, str, str | None], bool]] = {
    "link": _Inliner._link,
    "style": _Inliner._style,
    "img": _Inliner._img,
    "source": _Inliner._source,
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
    **dict.fromkeys(_BACKGROUND_TAGS, _Inliner._background),
}
