"""What a capture keeps of a page: an ``Archive``, a *skeleton* plus *assets*.

The skeleton is the page's HTML in which every inlined resource is written as
``kb-asset:<sha256 of its bytes>``; the assets are those bytes. Storage is content-addressed, so a
second capture of an unchanged page stores nothing new but its skeleton. ``assemble`` turns a
skeleton back into one HTML file whose resources are all ``data:`` URIs.

Every single file carries its own restrictive CSP ``<meta>`` (``with_own_csp``), first in its
``<head>``: a copy opened from disk (a download, a zip export) can neither run nor fetch anything,
even if something slipped past the stripping. The site's sandbox header is the third wall. It is
added when the file is made, not stored, so archives stored before it existed get it too.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from snapshots.capture.sniff import SAFE_TYPE

__all__ = [
    "ASSET_REF",
    "ASSET_SCHEME",
    "CSP_META",
    "EMPTY_DATA_URI",
    "Archive",
    "Asset",
    "assemble",
    "neutralize_refs",
    "with_own_csp",
]

ASSET_SCHEME = "kb-asset:"
ASSET_REF = re.compile(r"kb-asset:([0-9a-f]{64})")
EMPTY_DATA_URI = "data:,"

# What an archive may load: its own data: images, styles, fonts and media; nothing else. A meta
# CSP cannot carry sandbox or frame-ancestors; form-action and base-uri do not fall back to
# default-src, so they are named.
ARCHIVE_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline' data:; font-src data:; "
    "media-src data:; form-action 'none'; base-uri 'none'"
)
CSP_META = f'<meta http-equiv="Content-Security-Policy" content="{ARCHIVE_CSP}">'
_HEAD_START = re.compile(r"<head(?:[\s/][^>]*)?>", re.IGNORECASE)
_DOCUMENT_START = re.compile(r"\s*(?:<!doctype[^>]*>\s*)?(?:<html(?:[\s/][^>]*)?>)?", re.IGNORECASE)


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
    # every image kept (address without #fragment → sha256): the reader text's images point here
    images: dict[str, str] = field(default_factory=dict)
    # the sha256 of the page's lead image (og:image) among `assets`, or "" when none was kept
    lead_image: str = ""


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
        content_type = asset.content_type if SAFE_TYPE.fullmatch(asset.content_type) else ""
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


def neutralize_refs(text: str) -> str:
    """``text`` with each ``kb-asset:`` broken by a zero-width space.

    A page that itself contains "kb-asset:<hex>" must not be able to name another stored blob.
    """
    return text.replace(ASSET_SCHEME, "kb-asset\u200b:") if ASSET_SCHEME in text else text


def with_own_csp(html: str) -> str:
    """``html`` with ``CSP_META`` first in its ``<head>``; unchanged when it is already there.

    Idempotent: every single file (``pipeline.single_file``, the stored capture downloaded or
    exported) passes through it, whenever its skeleton was stored.
    """
    head = _HEAD_START.search(html)
    at = head.end() if head is not None else _DOCUMENT_START.match(html).end()
    if html.startswith(CSP_META, at):
        return html
    return html[:at] + CSP_META + html[at:]
