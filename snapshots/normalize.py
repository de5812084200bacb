"""Web addresses and tag names as a person types them, made canonical: pure functions, no database.

The library's writers (snapshots.services) and readers (queries, forms, the API) share these, so
every caller gets the same answers:
- A URL without a scheme ("example.com/a") is taken as https; only http and https are saved.
- The saved URL *is* the normalized one (tracking parameters gone); it is also the dedupe key.
- Tags never contain spaces: whitespace and TAG_SEPARATORS (commas, also "，" and "、", and
  semicolons) separate them; the tag fields' script (tags-input.js) reads TAG_SEPARATORS from the
  page, so it splits what is typed the same way. Their case is kept as first typed, and two spellings that differ only
  by case are one tag (TAGGIT_CASE_INSENSITIVE).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import idna
from django.utils.text import slugify
from django.utils.translation import gettext as _

MAX_URL_LENGTH = 2048
MAX_HOST_LENGTH = 253
MAX_TAG_LENGTH = 100
# How many tags one link may carry, and how many one library filter may name (?tag=a&tag=b…).
MAX_LINK_TAGS = 100
MAX_FILTER_TAGS = 50

# Query parameters that only say where a click came from; two URLs differing only by these are one page.
TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "twclid",
        "ttclid",
        "_hsenc",
        "_hsmi",
        "__hssc",
        "__hstc",
        "__hsfp",
        "hsctatracking",
        "ref_src",
        "ref_url",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "vero_conv",
        "_ga",
        "_gl",
        "srsltid",
        "spm",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_campaign", "pk_kwd", "pk_source", "pk_medium")
DEFAULT_PORTS = {"http": 80, "https": 443}

_EXPLICIT_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_BARE_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(?!\d)")
# Besides whitespace, these separate tags (tag fields hand them to tags-input.js as well).
TAG_SEPARATORS = ",，、;；"
_TAG_SEPARATOR = re.compile(f"[\\s{re.escape(TAG_SEPARATORS)}]+")
# Characters left as they are in a path or query; everything else is percent-encoded.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = "/?%:@!$&'()*+,;=-._~[]|"


# C0 controls but tab, newline and carriage return; DEL and C1; lone surrogates; U+FFFE/U+FFFF.
# XML (the Atom feeds) cannot carry them and PostgreSQL refuses NUL: stored text never holds them.
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


class LinkError(ValueError):
    """A link that cannot be saved; `message` is the sentence shown to the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def clean_text(text: str | None) -> str:
    """Text as stored (titles, notes, descriptions, tag names): control characters removed."""
    return _CONTROL_CHARACTERS.sub("", text or "")


# ---------------------------------------------------------------------------------------------
# URLs


def _is_tracking(key: str) -> bool:
    key = unquote(key).strip().lower()
    return key in TRACKING_PARAMETERS or key.startswith(TRACKING_PREFIXES)


def _ascii_host(host: str) -> str:
    """Lowercase, and internationalized names as punycode (IDNA 2008 with UTS #46 mapping)."""
    host = host.rstrip(".").lower()
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (UnicodeError, ValueError):
        try:
            return host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise LinkError(
                _("The address %(host)s is not a valid host name.") % {"host": host}
            ) from exc


def normalize_url(url: str) -> str:
    """The canonical form of a web address, used both to save and to find twins.

    Lowercases scheme and host (IDN → punycode), drops credentials ("user:pass@"), the default port, the fragment, a bare
    trailing "?" and tracking parameters (utm_*, fbclid, gclid, …); other parameters keep their order
    and spelling. A missing scheme means https. Raises LinkError with a sentence for a bad URL.
    """
    if not isinstance(url, str):
        raise LinkError(_("Enter a URL."))
    url = url.strip()
    if not url:
        raise LinkError(_("Enter a URL."))
    if len(url) > MAX_URL_LENGTH:
        raise LinkError(
            _("The URL is too long: at most %(max)d characters.") % {"max": MAX_URL_LENGTH}
        )
    if any(ch.isspace() for ch in url):
        raise LinkError(_("A URL cannot contain spaces."))
    if url.startswith("//"):
        url = "https:" + url
    elif not _EXPLICIT_SCHEME.match(url):
        bare = _BARE_SCHEME.match(url)
        if bare and "." not in bare.group(1):
            raise LinkError(
                _("Only http and https links can be saved, not %(scheme)s.")
                % {"scheme": bare.group(1).lower() + ":"}
            )
        url = "https://" + url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise LinkError(_("The URL is not valid: %(reason)s.") % {"reason": str(exc)}) from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise LinkError(
            _("Only http and https links can be saved, not %(scheme)s.") % {"scheme": scheme + ":"}
        )
    hostname = parts.hostname or ""
    if not hostname or hostname.strip(".") == "":
        raise LinkError(_("The URL has no host name, e.g. https://example.com/."))
    if ":" in hostname:  # an IPv6 literal keeps its brackets
        host = f"[{hostname.lower()}]"
    else:
        host = _ascii_host(hostname)
        if not host or any(not label for label in host.split(".")):
            raise LinkError(
                _("The address %(host)s is not a valid host name.") % {"host": hostname}
            )
        # Over 253 characters no DNS name can be; Link.domain holds at most 255 (PostgreSQL refuses more).
        if not re.fullmatch(r"[a-z0-9\-._~]+", host) or len(host) > MAX_HOST_LENGTH:
            raise LinkError(
                _("The address %(host)s is not a valid host name.") % {"host": hostname}
            )
    netloc = host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        if port == 0:
            raise LinkError(_("The URL's port must be between 1 and 65535."))
        netloc = f"{host}:{port}"
    # "user:password@" is dropped, not kept or refused: it would be sent as Basic auth and shown on
    # public pages, feeds and exports; the page itself is still worth saving (browser exports carry it).

    path = quote(parts.path or "/", safe=_PATH_SAFE)
    kept = [
        quote(segment, safe=_QUERY_SAFE)
        for segment in parts.query.split("&")
        if segment and not _is_tracking(segment.split("=", 1)[0])
    ]
    normalized = urlunsplit((scheme, netloc, path, "&".join(kept), ""))
    if len(normalized) > MAX_URL_LENGTH:
        raise LinkError(
            _("The URL is too long: at most %(max)d characters.") % {"max": MAX_URL_LENGTH}
        )
    return normalized


def domain_of(url: str) -> str:
    return (urlsplit(url).hostname or "").removeprefix("www.")


def host_key(host: str) -> str:
    """The host's labels last to first, each followed by a dot: "blog.example.org" -> "org.example.blog.".

    A host and all its subdomains then share one prefix ("org.example." for example.org), so the
    search's `site:` is one index range instead of a suffix match that reads every link's domain.
    """
    labels = [label for label in host.casefold().split(".") if label]
    return "".join(f"{label}." for label in reversed(labels))


# ---------------------------------------------------------------------------------------------
# Tags


def tag_has_slug(name: str) -> bool:
    """Whether a tag name gives a usable address (/tags/<slug>/): taggit slugs it as Django does."""
    return bool(slugify(name, allow_unicode=True))


def check_new_tag(name: str) -> None:
    """Refuse a name made only of punctuation ("'", "--"): its slug would be empty and no page could link it."""
    if not tag_has_slug(name):
        raise LinkError(
            _("A tag needs at least one letter or digit; “%(name)s” has none.") % {"name": name}
        )


_DIGITS = re.compile(r"(\d+)")


def tag_sort_key(name: str) -> tuple:
    """How people order names with numbers: "第1页", "第2页", "第10页" (not 第1页, 第10页, 第2页),
    case ignored. Splitting on digit runs alternates text and number, so keys always compare."""
    parts = _DIGITS.split(name.casefold())
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts))


def link_tags(text: str | Iterable[str]) -> list[str]:
    """Tag names to put on a link: parse_tags, and at most MAX_LINK_TAGS of them (LinkError)."""
    names = parse_tags(text)
    if len(names) > MAX_LINK_TAGS:
        raise LinkError(_("A link can carry at most %(max)d tags.") % {"max": MAX_LINK_TAGS})
    return names


def filter_tags(text: str | Iterable[str]) -> list[str]:
    """Tag names a library filter asks for: parse_tags, and at most MAX_FILTER_TAGS (LinkError)."""
    names = parse_tags(text)
    if len(names) > MAX_FILTER_TAGS:
        raise LinkError(_("A filter can name at most %(max)d tags.") % {"max": MAX_FILTER_TAGS})
    return names


def parse_tags(text: str | Iterable[str]) -> list[str]:
    """Tag names from what a person typed: "a, b c", "a,b", "机器学习，熵" → ["a", "b", "c"] ….

    Separators are commas (also Chinese "，" and "、"), semicolons and whitespace; a leading "#" is
    dropped. The first spelling of a name is kept and later ones that differ only by case are dropped.
    A list is accepted too (each item parsed the same way). Raises LinkError for an over-long tag.
    """
    if text is None:
        return []
    pieces = [text] if isinstance(text, str) else [str(item) for item in text]
    names: list[str] = []
    seen: set[str] = set()
    for piece in pieces:
        for raw in _TAG_SEPARATOR.split(clean_text(piece)):
            name = raw.strip().lstrip("#").strip()
            if not name:
                continue
            if len(name) > MAX_TAG_LENGTH:
                raise LinkError(
                    _("A tag can be at most %(max)d characters long.") % {"max": MAX_TAG_LENGTH}
                )
            key = name.casefold()
            if key not in seen:
                seen.add(key)
                names.append(name)
    return names
