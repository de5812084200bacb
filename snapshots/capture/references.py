"""What a browser makes of a reference (``href``, ``src``, ``url()``...): its URL, or nothing.

Browsers forgive a lot: whitespace around a URL, tabs and newlines inside it, backslashes for
slashes. These functions read references the same way, so the archive fetches what the live page
would have, and tell apart the references that need no network (``data:``, ``#fragment``, our own
``kb-asset:``). Only http(s) URLs come out of ``absolute``; everything else is not fetched.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote_to_bytes, urljoin

from snapshots.capture.archive import ASSET_SCHEME

__all__ = [
    "ID_REF",
    "WHITESPACE",
    "absolute",
    "clean",
    "is_inert",
    "join_url",
    "may_fetch",
    "parse_data_url",
    "scheme_of",
]

_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*")
_URL_NOISE = str.maketrans("", "", "\t\n\r")
WHITESPACE = " \t\n\r\f"
# url(#id): a reference inside the document itself
ID_REF = re.compile(r"url\(\s*(['\"]?)#([^)'\"]+)\1\s*\)")


def clean(value: str) -> str:
    # browsers trim ASCII whitespace and drop tabs/newlines anywhere in a URL
    value = value.strip(WHITESPACE)
    if "\t" in value or "\n" in value or "\r" in value:
        value = value.translate(_URL_NOISE)
    return value


def scheme_of(ref: str) -> str:
    colon = ref.find(":", 0, 40)
    if colon <= 0:
        return ""
    scheme = ref[:colon]
    return scheme.lower() if _SCHEME.fullmatch(scheme) else ""


def absolute(base: str | None, ref: str) -> str | None:
    """The absolute http(s) URL `ref` points to from `base`, or None (data:, other schemes...)."""
    ref = clean(ref)
    if not ref:
        return None
    scheme = scheme_of(ref)
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
    return url if scheme_of(url) in ("http", "https") and "://" in url[:8] else None


def join_url(base: str, ref: str) -> str:
    """urljoin, with shortcuts for the absolute and root-relative links most pages are made of."""
    if ref.startswith(("http://", "https://")) and "\\" not in ref:
        return ref
    if ref.startswith("/") and not ref.startswith("//") and "/." not in ref and "\\" not in ref:
        scheme, _, rest = base.partition("://")
        host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        return f"{scheme}://{host}{ref}"
    return urljoin(base, ref)


def is_inert(value: str) -> bool:
    """A reference that needs no network: one of ours, a data: URI, a fragment, about:blank."""
    if value.startswith((ASSET_SCHEME, "data:", "#")):
        return True
    value = clean(value)
    return (
        not value
        or value.startswith(("#", ASSET_SCHEME))
        or scheme_of(value) == "data"
        or value.lower() == "about:blank"
    )


def may_fetch(css_value: str) -> bool:
    """True if a CSS value (an SVG presentation attribute) may name a URL other than ``url(#id)``:
    any other ``url(``, in any case, or an escape that could spell one (``u\\72l(``)."""
    rest = ID_REF.sub("", css_value) if "#" in css_value else css_value
    return "url(" in rest.lower() or "\\" in rest


def parse_data_url(url: str) -> tuple[str, bytes] | None:
    head, sep, data = clean(url).partition(",")
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
