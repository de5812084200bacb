"""One capture of one URL through the pure steps: fetch → decode → inline → extract.

``capture_page`` returns everything the task needs to store and record; it touches no model
and no storage, so the benchmarks run it without a database. Storing (``capture.store``) and
saving the snapshot are the task's job (``snapshots.tasks``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from posixpath import basename
from urllib.parse import unquote, urlsplit

from snapshots.capture.archive import Archive, Asset, assemble, with_own_csp
from snapshots.capture.assets import AssetFetcher, SharedAnswers
from snapshots.capture.collector import Limits
from snapshots.capture.decode import Decoded, decode
from snapshots.capture.extract import Article, extract
from snapshots.capture.fetch import FetchPolicy, Response, fetch, new_session
from snapshots.capture.guard import NameCache
from snapshots.capture.inline import inline
from snapshots.capture.reader import reader_with_stored_images

__all__ = [
    "CAPTURE_SECONDS",
    "Capture",
    "Document",
    "capture_page",
    "default_policy",
    "is_html",
    "single_file",
]

# The whole capture — page, every redirect and every asset — must end within this many seconds.
CAPTURE_SECONDS = 60.0

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
ARCHIVE_TYPE = "text/html;charset=utf-8"
_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)


@dataclass(frozen=True)
class Document:
    """A non-HTML answer (PDF, image, plain text...), kept exactly as it came."""

    body: bytes
    content_type: str
    title: str
    text: str = ""
    encoding: str = ""


@dataclass(frozen=True)
class Capture:
    """The outcome of the pure steps: a page (``archive`` + ``article``) or a ``document``."""

    response: Response
    decoded: Decoded | None = None
    archive: Archive | None = None
    article: Article | None = None
    document: Document | None = None
    engine: str = "static"  # "browser" when Chromium rendered it (capture.engines)
    screenshot: Asset | None = None  # the first screen, or the page's og:image

    @property
    def archive_type(self) -> str:
        return self.document.content_type if self.document else ARCHIVE_TYPE


def default_policy(
    allow_hosts: frozenset[str] | list[str] = frozenset(),
    seconds: float = CAPTURE_SECONDS,
    **overrides: object,
) -> FetchPolicy:
    """The policy of a capture starting now: ARCHITECTURE §4 limits, the deadline included."""
    policy = FetchPolicy(allow_hosts=frozenset(allow_hosts), **overrides)  # type: ignore[arg-type]
    return policy.with_deadline(seconds)


def is_html(response: Response) -> bool:
    if response.content_type in HTML_TYPES:
        return True
    # Servers that send no type (or a vague one) still serve web pages; a browser sniffs them too.
    vague = response.content_type in ("", "application/octet-stream")
    return vague and bool(_HTML_START.match(response.body[:1024]))


def capture_page(
    url: str,
    policy: FetchPolicy,
    limits: Limits | None = None,
    *,
    fetcher: Callable[[str, FetchPolicy], Response] | None = None,
    shared: SharedAnswers | None = None,
) -> Capture:
    """Fetch ``url`` and turn it into an archive and an article; raises ``CaptureError``.

    Every sub-resource goes through the same guarded ``fetch`` and the same deadline as the page,
    several at a time (``assets``); a failing asset is counted in the archive, never fatal.
    ``fetcher`` (a guarded fetch that remembers its answers, ``engines``) fetches the page instead,
    and ``shared`` is told every file downloaded (and each under way), so that the browser reuses
    what was fetched.
    """
    limits = limits or Limits()
    names = NameCache()  # one DNS lookup per host for the whole capture
    with new_session() as session:
        if fetcher is not None:
            response = fetcher(url, policy)
        else:
            response = fetch(url, policy, session=session, names=names)
    if not is_html(response):
        return Capture(response=response, document=_document(response))

    decoded = decode(response.body, response.headers.get("Content-Type"), response.final_url)
    # Extraction reads the original page: its scripts (JSON-LD) carry metadata the archive drops.
    article = extract(decoded.text, response.final_url)
    asset_policy = replace(policy, accept="*/*")
    with AssetFetcher(
        asset_policy, names=names, cookies=session.cookies, limits=limits, shared=shared
    ) as assets:
        archive = inline(
            decoded.text, response.final_url, assets, limits, lead_image_url=article.image
        )
    # The reader text shows the images the archive kept, never the live site's.
    article = replace(
        article,
        reader_html=reader_with_stored_images(
            article.reader_html, response.final_url, archive.images
        ),
    )
    return Capture(response=response, decoded=decoded, archive=archive, article=article)


def single_file(archive: Archive) -> str:
    """The archive as one self-contained HTML file (every asset a ``data:`` URI), with its own CSP."""
    return assemble(with_own_csp(archive.html), archive.assets.__getitem__)


def _document(response: Response) -> Document:
    content_type = response.content_type or "application/octet-stream"
    title = _file_name(response.final_url)
    if content_type == "text/plain":
        decoded = decode(response.body, response.headers.get("Content-Type"))
        return Document(
            body=response.body,
            content_type=f"text/plain;charset={decoded.encoding}",
            title=title,
            text=decoded.text,
            encoding=decoded.encoding,
        )
    return Document(body=response.body, content_type=content_type, title=title)


def _file_name(url: str) -> str:
    parts = urlsplit(url)
    name = unquote(basename(parts.path.rstrip("/")))
    return name or parts.hostname or url
