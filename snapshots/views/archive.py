"""Archived pages: served raw from their own sandboxed URL, and shown inside the site.

``/archive/<id>/`` is the only URL that answers with captured (foreign) HTML. It carries the
archive CSP of ARCHITECTURE §4 — ``sandbox`` (no scripts, no forms, an opaque origin) and nothing
but ``data:`` images, styles and fonts — set here and exempted from the site's own CSP
middleware, so neither replaces the other. The site's pages (``view``, ``reader``) never inline
foreign HTML except the reader text, which is sanitized (again) with nh3.

Who may see an archive is who may see its link (``snapshots.access``); API clients following
``archive_url`` may send their ``Authorization: Bearer`` token (``access.archive_viewer``).
"""

from __future__ import annotations

import functools
import logging
import mimetypes
import re
import unicodedata
from html import unescape
from urllib.parse import quote

import nh3
from csp.decorators import csp_exempt
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from snapshots import access
from snapshots.capture.archive import ASSET_REF
from snapshots.capture.store import BlobUnavailable
from snapshots.models import Snapshot
from snapshots.services.archives import blob_store, is_archived_page, snapshot_single_file

logger = logging.getLogger(__name__)

# media-src data:: the audio and video a capture kept play in the archive (their own controls;
# the page's scripted players are gone with its scripts).
ARCHIVE_CSP = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline' data:; font-src data:; "
    "media-src data:"
)
HTML_TYPE = "text/html; charset=utf-8"
# A captured icon may be an SVG: opened directly it must run nothing and load nothing.
ICON_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
# Only image types go out as an icon's Content-Type (and nothing a header could choke on).
_ICON_TYPE = re.compile(r"image/[a-z0-9][a-z0-9.+-]*")


def archive_headers(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = ARCHIVE_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Frame-Options"] = "SAMEORIGIN"
    # Private to its viewers: not kept by any cache, so it is gone from a shared browser at logout.
    _private_to_viewer(response, "private, no-store")
    return response


def _private_to_viewer(response: HttpResponse, cache_control: str) -> None:
    response["Cache-Control"] = cache_control
    patch_vary_headers(response, ("Cookie", "Authorization"))


def _captured_snapshot_or_404(request: HttpRequest, snapshot_id: int) -> Snapshot:
    snapshot = access.snapshot_read(request, snapshot_id, viewer=access.archive_viewer)
    if snapshot.status != Snapshot.Status.SUCCEEDED or snapshot.archive_id is None:
        raise Http404("not captured")
    return snapshot


def _served_type(snapshot: Snapshot) -> str:
    if is_archived_page(snapshot):
        return HTML_TYPE
    return snapshot.content_type or "application/octet-stream"


def _single_file_or_404(snapshot: Snapshot) -> bytes:
    try:
        return snapshot_single_file(snapshot)
    except (LookupError, FileNotFoundError) as error:
        raise Http404("archive missing") from error


def _refuse_wrong_token(view):
    """A Bearer token that is not valid gets 401 from every stored file (archive, download,
    icon), as from the API, instead of being served as an anonymous visitor."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.headers.get("Authorization", "").lower().startswith("bearer ") and (
            access.archive_viewer(request) is None
        ):
            response = HttpResponse(
                _("The API token is not valid."), status=401, content_type=HTML_TYPE
            )
            response["WWW-Authenticate"] = "Bearer"
            return archive_headers(response)
        return view(request, *args, **kwargs)

    return wrapper


def _store_unavailable_is_503(view):
    """A store that cannot be read just now (an S3 endpoint down) is 503 with a sentence, and a
    moment to wait, rather than a 500: the archive is there, it is only out of reach."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except BlobUnavailable:
            logger.warning("the stored files cannot be read", exc_info=True)
            response = HttpResponse(
                _("The stored copy cannot be read right now. Try again in a moment."),
                status=503,
                content_type=HTML_TYPE,
            )
            response["Retry-After"] = "30"
            return archive_headers(response)

    return wrapper


@require_safe
@csp_exempt()
@_refuse_wrong_token
@_store_unavailable_is_503
def archive(request: HttpRequest, snapshot_id: int) -> HttpResponse:
    """The self-contained archive itself, under the archive CSP (for the sandboxed iframe)."""
    snapshot = _captured_snapshot_or_404(request, snapshot_id)
    body = _single_file_or_404(snapshot)
    return archive_headers(HttpResponse(body, content_type=_served_type(snapshot)))


@require_safe
@csp_exempt()
@_refuse_wrong_token
@_store_unavailable_is_503
def download(request: HttpRequest, snapshot_id: int) -> HttpResponse:
    """The same single file, as an attachment named after the page and the capture date."""
    snapshot = _captured_snapshot_or_404(request, snapshot_id)
    body = _single_file_or_404(snapshot)
    response = archive_headers(HttpResponse(body, content_type=_served_type(snapshot)))
    response["Content-Disposition"] = _attachment(download_name(snapshot))
    return response


@require_safe
@csp_exempt()
@_refuse_wrong_token
@_store_unavailable_is_503
def icon(request: HttpRequest, snapshot_id: int) -> HttpResponse:
    """The page icon the capture inlined (the library shows it instead of the letter avatar).

    Seen by whoever may see the archive; 404 when the snapshot has none or it is not an image.
    """
    snapshot = access.snapshot_read(request, snapshot_id, viewer=access.archive_viewer)
    return _stored_image(request, snapshot, snapshot.icon_sha256)


@require_safe
@csp_exempt()
@_refuse_wrong_token
@_store_unavailable_is_503
def image(request: HttpRequest, snapshot_id: int, sha256: str) -> HttpResponse:
    """One image the capture kept (the link's picture in the library, the reader's images).

    Seen by whoever may see the archive; only the snapshot's own image blobs, 404 for anything else.
    """
    snapshot = access.snapshot_read(request, snapshot_id, viewer=access.archive_viewer)
    return _stored_image(request, snapshot, sha256)


@require_safe
@csp_exempt()
@_refuse_wrong_token
@_store_unavailable_is_503
def screenshot(request: HttpRequest, snapshot_id: int) -> HttpResponse:
    """The capture's picture: the first screen as the browser showed it, or the page's og:image.

    Served like the icon: to whoever may see the archive, private, sandboxed, never sniffed.
    """
    snapshot = access.snapshot_read(request, snapshot_id, viewer=access.archive_viewer)
    return _stored_image(request, snapshot, snapshot.screenshot_sha256)


def _stored_image(request: HttpRequest, snapshot: Snapshot, sha: str) -> HttpResponse:
    if not sha:
        raise Http404("no image")
    # Looked up among the snapshot's own blobs: those live exactly as long as the snapshot.
    content_type = (
        snapshot.blobs.filter(sha256=sha).values_list("content_type", flat=True).first() or ""
    )
    content_type = content_type.split(";", 1)[0].strip().lower()
    if not _ICON_TYPE.fullmatch(content_type):
        raise Http404("no image")
    etag = f'"{sha}"'
    # If-None-Match compares weakly (RFC 9110 §13.1.2): W/"x" matches "x"
    tags = parse_etags(request.headers.get("If-None-Match", ""))
    if "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags):
        return _icon_headers(HttpResponse(status=304), etag)
    try:
        body = blob_store().read(sha)
    except OSError as error:  # the blob's file is gone: as if there were no image
        raise Http404("image missing") from error
    return _icon_headers(HttpResponse(body, content_type=content_type), etag)


def _icon_headers(response: HttpResponse, etag: str) -> HttpResponse:
    response["ETag"] = etag
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = ICON_CSP
    # Never changes, but is private: the browser asks again each time (a 304 by ETag while the
    # viewer may see it, a 404 once signed out), so it does not stay visible after logout.
    _private_to_viewer(response, "private, no-cache")
    return response


def download_name(snapshot: Snapshot) -> str:
    """``<title or domain> <YYYY-MM-DD>.<ext>``: a name a person recognises in their folder."""
    stem = _safe_file_stem(snapshot.title or snapshot.link.title or snapshot.link.domain or "page")
    when = (snapshot.finished or snapshot.requested).date().isoformat()
    if is_archived_page(snapshot):
        extension = ".html"
    else:
        media_type = snapshot.content_type.split(";", 1)[0].strip()
        extension = mimetypes.guess_extension(media_type) or ".bin"
    return f"{stem} {when}{extension}"


def _safe_file_stem(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', " ", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    return text[:80].rstrip(" .") or "page"


def _attachment(name: str) -> str:
    ascii_name = name.encode("ascii", "ignore").decode("ascii").strip() or "snapshot"
    ascii_name = ascii_name.replace('"', "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


@require_safe
def reader(request: HttpRequest, snapshot_id: int) -> HttpResponse:
    """The main text of the page in the site's own typography."""
    snapshot = access.snapshot_read(request, snapshot_id)
    # Cleaned at capture already; cleaned again because this HTML lands in a site page.
    cleaned = _without_title_heading(
        reader_images_served(nh3.clean(_stored_images_addressed(snapshot)), snapshot),
        snapshot.title,
    )
    reader_html = mark_safe(cleaned) if cleaned else ""  # noqa: S308
    return render(
        request,
        "snapshots/snapshot_reader.html",
        _page_context(request, snapshot) | {"reader_html": reader_html},
    )


def _stored_images_addressed(snapshot: Snapshot) -> str:
    """The reader HTML with each ``kb-asset:<sha>`` image made the address kb serves it at."""
    pattern = reverse("snapshots:snapshot_image", args=[snapshot.pk, "0" * 64])
    return ASSET_REF.sub(
        lambda match: pattern.replace("0" * 64, match.group(1)), snapshot.reader_html
    )


_IMG_TAG = re.compile(r"<img\b[^>]*>", re.I)
_IMG_SRC = re.compile(r'\ssrc="([^"]*)"')


def reader_images_served(html: str, snapshot: Snapshot) -> str:
    """Only images kb serves from this snapshot stay (same origin, same access rules as the
    archive); a live address (readers captured before their images were kept) is dropped, as the
    site's CSP would block it anyway."""
    prefix = reverse("snapshots:snapshot_image", args=[snapshot.pk, "0" * 64])[: -(64 + 1)]

    def keep(match: re.Match) -> str:
        src = _IMG_SRC.search(match.group(0))
        if src and src.group(1).startswith(prefix):
            return match.group(0).replace("<img", '<img loading="lazy"', 1)
        return ""

    return _IMG_TAG.sub(keep, html)


_LEADING_HEADING = re.compile(r"\A\s*<h([12])>(.*?)</h\1>", re.S)


def _without_title_heading(html: str, title: str) -> str:
    """The reader page shows the title above the text; drop the text's own copy of it."""
    match = _LEADING_HEADING.match(html)
    if match and title and _plain(match.group(2)) == _plain(title):
        return html[match.end() :]
    return html


def _plain(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", "", html)).split()).casefold()


@require_safe
def view(request: HttpRequest, snapshot_id: int) -> HttpResponse:
    """The archive inside the site: a toolbar and a sandboxed iframe of ``/archive/<id>/``."""
    snapshot = access.snapshot_read(request, snapshot_id)
    return render(request, "snapshots/snapshot_view.html", _page_context(request, snapshot))


def _page_context(request: HttpRequest, snapshot: Snapshot) -> dict:
    link = snapshot.link
    captured = snapshot.status == Snapshot.Status.SUCCEEDED and snapshot.archive_id is not None
    return {
        "snapshot": snapshot,
        "link": link,
        "captured": captured,
        "is_page": is_archived_page(snapshot),
        "is_pdf": snapshot.content_type.split(";", 1)[0].strip() == "application/pdf",
        "can_edit": access.can_edit(request.user, link),
        "link_url": reverse("snapshots:link_detail", args=[link.pk]),
        "archive_url": reverse("snapshots:snapshot_archive", args=[snapshot.pk]),
        "download_url": reverse("snapshots:snapshot_download", args=[snapshot.pk]),
        "reader_url": reverse("snapshots:snapshot_reader", args=[snapshot.pk]),
        "view_url": reverse("snapshots:snapshot_view", args=[snapshot.pk]),
        "page_title": snapshot.title or link.display_title,
    }
