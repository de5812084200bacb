"""Exporting links as a Netscape bookmark file (the zip with archives and history is
snapshots.services.bundle, which puts this file in it).

The bookmark file is the one every browser, linkding, Pocket and Karakeep imports: TAGS, ADD_DATE,
LAST_MODIFIED, PRIVATE, TOREAD, and the notes as the <DD> after each link. importer.py reads it back.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable, Iterator
from html import escape
from urllib.parse import quote

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import slugify

from snapshots.models import Link, Snapshot
from snapshots.queries import TAG_LIST

HEADER = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<!-- This is an automatically generated file.
     It will be read and overwritten.
     DO NOT EDIT! -->
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>Bookmarks</TITLE>
<H1>Bookmarks</H1>
<DL><p>
"""
FOOTER = "</DL><p>\n"
_CHUNK = 500


def _in_chunks(links) -> Iterator[list[Link]]:
    """Links with their tags and latest snapshot, a chunk at a time (memory stays flat)."""
    if isinstance(links, QuerySet):
        ids = list(links.order_by().values_list("pk", flat=True).distinct())
        for start in range(0, len(ids), _CHUNK):
            yield list(
                Link.objects.filter(pk__in=ids[start : start + _CHUNK])
                .select_related("latest_snapshot")
                .defer("latest_snapshot__text", "latest_snapshot__reader_html")
                .prefetch_related(TAG_LIST)
                .order_by("-created", "-id")
            )
    else:
        links = list(links)
        for start in range(0, len(links), _CHUNK):
            yield links[start : start + _CHUNK]


def _timestamp(moment) -> int:
    return int(moment.timestamp()) if moment else int(timezone.now().timestamp())


def bookmark_entry(link: Link, archive: str = "") -> str:
    """One link's lines of the bookmark file; ``archive``: the path of its archived page beside
    the file (in the export zip), linked from its description so the zip reads without kb.

    That link is marked ``DATA-KB-ARCHIVE`` so kb's importer neither takes it for a bookmark nor
    for part of the notes.
    """
    title = link.display_title  # the user's, else the newest succeeded capture's, else the URL
    tags = ",".join(link.tag_names)
    attributes = [
        f'HREF="{escape(link.url)}"',
        f'ADD_DATE="{_timestamp(link.created)}"',
        f'LAST_MODIFIED="{_timestamp(link.updated)}"',
        f'PRIVATE="{1 if link.private else 0}"',
        f'TOREAD="{1 if link.unread else 0}"',
        f'TAGS="{escape(tags)}"',
    ]
    line = f"    <DT><A {' '.join(attributes)}>{escape(title, quote=False)}</A>\n"
    archived = (
        f'<A HREF="{escape(quote(archive, safe="/"))}" DATA-KB-ARCHIVE="1">archived copy</A> '
        if archive
        else ""
    )
    if link.notes or archived:
        line += f"    <DD>{archived}{escape(link.notes, quote=False)}".rstrip() + "\n"
    return line


def iter_bookmarks(links) -> Iterator[str]:
    yield HEADER
    for chunk in _in_chunks(links):
        for link in chunk:
            yield bookmark_entry(link)
    yield FOOTER


def export_bookmarks(*, links: Iterable[Link] | QuerySet[Link]) -> str:
    """The links as a Netscape bookmark file (a str of HTML)."""
    return "".join(iter_bookmarks(links))


def archive_name(link: Link, snapshot: Snapshot) -> str:
    slug = slugify(link.title or link.domain or "", allow_unicode=True)[:60] or "page"
    media_type = (snapshot.content_type or "text/html").split(";", 1)[0].strip().lower()
    if media_type in ("", "text/html", "application/xhtml+xml"):
        extension = ".html"
    else:
        extension = mimetypes.guess_extension(media_type) or ".bin"
    return f"archives/{link.pk}-{slug}{extension}"


__all__ = ["archive_name", "bookmark_entry", "export_bookmarks", "iter_bookmarks"]
