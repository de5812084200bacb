"""Importing Netscape bookmark files: what browsers, linkding, Pocket and Karakeep export.

Read: <A HREF> with TAGS (comma list), ADD_DATE (Unix time; milliseconds and microseconds are
recognized), PRIVATE ("1"/"0"), TOREAD ("1" = unread); the <DD> after a link becomes its notes.
Pocket's files (<h1>Unread</h1> / <h1>Read Archive</h1> lists with time_added and tags) are read too.
Folder names become tags (spaces → "-"), except the roots browsers add ("Bookmarks bar", …).

All or nothing: a file that is not a bookmarks file, or is cut short, raises LinkError with a
sentence and imports nothing; the whole import runs in one transaction. Single entries that cannot be
saved (a javascript: bookmarklet, a Firefox place: query) are skipped and listed in `errors`.
Links already saved are counted as `existing` and get the file's tags added. New links get a pending
snapshot; their captures are queued after commit, never run inline.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task
from taggit.models import TaggedItem

from snapshots import revision, search
from snapshots.models import Link, Snapshot, link_content_type
from snapshots.normalize import (
    MAX_LINK_TAGS,
    MAX_TAG_LENGTH,
    LinkError,
    clean_text,
    domain_of,
    link_tags,
    normalize_url,
    parse_tags,
    tag_has_slug,
)
from snapshots.services.links import MAX_TITLE_LENGTH, add_tags_to_links, tags_for_names
from snapshots.tasks import captures_run_in_place, snapshot_enqueue

MAX_IMPORT_BYTES = 64 * 1024 * 1024
MAX_REPORTED_ERRORS = 100
# Up to this many captures are enqueued by the import itself; more go through the worker.
logger = logging.getLogger(__name__)

DIRECT_ENQUEUE_LIMIT = 200
FANOUT_BATCH = 1000
# With a queue that runs each task inside the request (immediate), at most this many captures.
IN_PLACE_LIMIT = 20
# Folders every browser makes; they say where a bookmark sat, not what it is about.
ROOT_FOLDERS = {
    "bookmarks",
    "bookmarks bar",
    "bookmarks toolbar",
    "bookmarks menu",
    "other bookmarks",
    "mobile bookmarks",
    "unsorted bookmarks",
    "favorites",
    "favorites bar",
    "书签栏",
    "其他书签",
    "移动设备书签",
}
_POCKET_SECTIONS = {"unread": True, "read archive": False}


@dataclass
class ImportResult:
    created: int = 0
    existing: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    # New links not captured now (a queue without a worker): `manage.py recapture --stuck` does it.
    captures_left_pending: int = 0

    @property
    def total(self) -> int:
        return self.created + self.existing + self.skipped


@dataclass
class Entry:
    url: str
    title: str = ""
    notes: str = ""
    tags: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    created: datetime | None = None
    private: bool | None = None
    unread: bool | None = None
    line: int = 0


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number <= 0:
        return None
    # Some exporters write milliseconds or microseconds since the epoch.
    if number > 1e14:
        number /= 1_000_000
    elif number > 1e11:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in {"1", "true", "yes"}


class BookmarkParser(HTMLParser):
    """A small state machine over the start and end tags of a Netscape bookmark file."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.entries: list[Entry] = []
        self.folders: list[str | None] = []
        self.open_lists = 0
        self.saw_doctype = False
        self.saw_list = False
        self.pending_folder: str | None = None
        self.pending_folder_is_root = False
        self.unread_section: bool | None = None
        self._text: list[str] | None = None
        self._text_for: str | None = None
        self._folder_attrs: dict[str, str | None] = {}
        self._entry: Entry | None = None
        self._notes_for: Entry | None = None
        self._in_archive_link = False

    # -- text capture helpers
    def _start_text(self, purpose: str) -> None:
        self._finish_notes()
        self._text = []
        self._text_for = purpose

    def _finish_notes(self) -> None:
        if self._notes_for is not None and self._text is not None and self._text_for == "notes":
            self._notes_for.notes = "".join(self._text).strip()
            self._text = None
            self._text_for = None
        self._notes_for = None

    def handle_decl(self, decl: str) -> None:
        if "netscape-bookmark-file" in decl.lower():
            self.saw_doctype = True

    def handle_starttag(self, tag: str, attrs) -> None:
        attributes = {name.lower(): value for name, value in attrs}
        if tag == "a" and "data-kb-archive" in attributes:
            self._in_archive_link = True  # kb's export links each archived page: not a bookmark
            return
        if tag in ("dt", "dl", "li", "ul", "h1", "h3", "a"):
            self._finish_notes()
        if tag == "dl":
            self.saw_list = True
            self.open_lists += 1
            name = None if self.pending_folder_is_root else self.pending_folder
            self.folders.append(name)
            self.pending_folder = None
            self.pending_folder_is_root = False
        elif tag in ("h3", "h1"):
            self._folder_attrs = attributes
            self._start_text(tag)
        elif tag == "a":
            href = attributes.get("href")
            self._entry = Entry(
                url=(href or "").strip(),
                tags=parse_tags_lenient(attributes.get("tags") or ""),
                folders=[f for f in self.folders if f],
                created=_parse_time(attributes.get("add_date") or attributes.get("time_added")),
                private=_flag(attributes.get("private")),
                unread=_flag(attributes.get("toread")),
                line=self.getpos()[0],
            )
            if self._entry.unread is None and self.unread_section is not None:
                self._entry.unread = self.unread_section
            self._start_text("a")
        elif tag == "dd" and self.entries:
            self._text = []
            self._text_for = "notes"
            self._notes_for = self.entries[-1]

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._in_archive_link:
            self._in_archive_link = False
            return
        if tag == "dl":
            self._finish_notes()
            if self.open_lists == 0:
                raise LinkError(
                    _("The file closes a folder it never opened (line %(line)d).")
                    % {"line": self.getpos()[0]}
                )
            self.open_lists -= 1
            self.folders.pop()
        elif tag in ("h3", "h1") and self._text_for == tag:
            name = " ".join("".join(self._text or []).split())
            self._text = None
            self._text_for = None
            if tag == "h1":
                self.unread_section = _POCKET_SECTIONS.get(name.lower(), self.unread_section)
                return
            is_root = (
                name.lower() in ROOT_FOLDERS
                or "personal_toolbar_folder" in self._folder_attrs
                or "unfiled_bookmarks_folder" in self._folder_attrs
            )
            self.pending_folder = name
            self.pending_folder_is_root = is_root
        elif tag == "a" and self._entry is not None:
            self._entry.title = " ".join("".join(self._text or []).split())
            self._text = None
            self._text_for = None
            self.entries.append(self._entry)
            self._entry = None

    def handle_data(self, data: str) -> None:
        if self._text is not None and not self._in_archive_link:
            self._text.append(data)

    def close(self) -> None:
        super().close()
        if self._entry is not None:
            raise LinkError(
                _("The file ends in the middle of a bookmark (line %(line)d): it may be cut short.")
                % {"line": self._entry.line}
            )
        self._finish_notes()


def parse_tags_lenient(text: str) -> list[str]:
    """Tags from a TAGS attribute; over-long names are cut rather than failing the whole file."""
    names = []
    for piece in re.split(r"[,，、]", text):
        piece = "-".join(piece.split())[:MAX_TAG_LENGTH]
        names.extend(parse_tags(piece))
    # A folder named "…" or "--" has no letter to make a tag address of: it is left out.
    return [name for name in parse_tags(names) if tag_has_slug(name)]


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    found = re.search(rb"charset=[\"']?([A-Za-z0-9_\-]+)", data[:2048])
    if found:
        try:
            return data.decode(found.group(1).decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            pass
    raise LinkError(_("The file is not UTF-8 text, so it cannot be a bookmarks export."))


def parse_bookmarks(data: bytes) -> list[Entry]:
    """The bookmarks in a Netscape bookmark file, in file order. Raises LinkError if malformed."""
    if not isinstance(data, bytes | bytearray):
        raise LinkError(_("Choose a bookmarks file to import."))
    if not data.strip():
        raise LinkError(_("The file is empty."))
    if len(data) > MAX_IMPORT_BYTES:
        raise LinkError(
            _("The file is too large: at most %(mb)d MB.") % {"mb": MAX_IMPORT_BYTES // 2**20}
        )
    text = _decode(bytes(data))
    if "\x00" in text:
        raise LinkError(_("This is a binary file, not a bookmarks export."))
    parser = BookmarkParser()
    parser.feed(text)
    parser.close()
    if parser.rawdata.strip():
        raise LinkError(_("The file ends in the middle of a tag: it may be cut short."))
    if parser.open_lists:
        raise LinkError(_("The file ends before all its folders are closed: it may be cut short."))
    looks_like_bookmarks = parser.saw_doctype or parser.saw_list or parser.entries
    if not looks_like_bookmarks:
        raise LinkError(
            _(
                "This is not a bookmarks file: choose the HTML file that a browser, linkding, "
                "Pocket or Karakeep exports (“Netscape bookmark file”)."
            )
        )
    return parser.entries


def _folder_tags(folders: list[str]) -> list[str]:
    return parse_tags_lenient(",".join(folders))


def import_bookmarks(
    *,
    owner,
    data: bytes,
    private_default: bool = True,
    folders_as_tags: bool = True,
    capture: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import a Netscape bookmark file for `owner`; all or nothing (see the module docstring).

    Fast for large files: links, tags, snapshots and the search index are written in bulk (a fixed
    number of queries per 500 links), and captures are enqueued once the transaction has committed.
    `progress(n)` is called as each batch of n links is indexed (for a progress bar).
    """
    entries = parse_bookmarks(data)
    result = ImportResult()
    wanted: dict[str, Entry] = {}
    for entry in entries:
        try:
            normalized = normalize_url(entry.url)
        except LinkError as exc:
            result.skipped += 1
            if len(result.errors) < MAX_REPORTED_ERRORS:
                result.errors.append(
                    _("Line %(line)d: %(url)s — %(reason)s")
                    % {"line": entry.line, "url": entry.url[:200] or "—", "reason": exc.message}
                )
            continue
        try:
            entry.tags = link_tags(
                entry.tags + (_folder_tags(entry.folders) if folders_as_tags else [])
            )
        except LinkError as exc:
            result.skipped += 1
            if len(result.errors) < MAX_REPORTED_ERRORS:
                result.errors.append(
                    _("Line %(line)d: %(url)s — %(reason)s")
                    % {"line": entry.line, "url": entry.url[:200], "reason": exc.message}
                )
            continue
        twin = wanted.get(normalized)
        if twin is not None:
            # The same page twice in one file: one link with both sets of tags.
            twin.tags = parse_tags(twin.tags + entry.tags)[:MAX_LINK_TAGS]
            twin.notes = twin.notes or entry.notes
            result.existing += 1
            continue
        wanted[normalized] = entry

    now = timezone.now()
    with transaction.atomic():
        existing_ids: dict[str, int] = {}
        keys = list(wanted)
        for start in range(0, len(keys), 500):
            existing_ids.update(
                Link.objects.filter(
                    owner=owner, normalized_url__in=keys[start : start + 500]
                ).values_list("normalized_url", "pk")
            )
        new_links = []
        for normalized, entry in wanted.items():
            if normalized in existing_ids:
                continue
            title = entry.title if entry.title != entry.url else ""
            new_links.append(
                Link(
                    owner=owner,
                    url=normalized,
                    normalized_url=normalized,
                    domain=domain_of(normalized),
                    title=clean_text(title)[:MAX_TITLE_LENGTH],
                    notes=clean_text(entry.notes),
                    private=private_default if entry.private is None else entry.private,
                    unread=bool(entry.unread),
                    created=entry.created or now,
                )
            )
        Link.objects.bulk_create(new_links, batch_size=500)
        created_ids = {link.normalized_url: link.pk for link in new_links}
        result.created = len(new_links)
        result.existing += len(existing_ids)

        # Tags: find or make each distinct name once, then one bulk insert of the pairs.
        all_names = parse_tags([name for entry in wanted.values() for name in entry.tags])
        tags = tags_for_names(all_names)
        content_type = link_content_type()
        TaggedItem.objects.bulk_create(
            (
                TaggedItem(content_type=content_type, object_id=link_id, tag=tags[name.casefold()])
                for normalized, link_id in created_ids.items()
                for name in wanted[normalized].tags
            ),
            batch_size=1000,
        )
        for normalized, link_id in existing_ids.items():
            if wanted[normalized].tags:
                add_tags_to_links([link_id], wanted[normalized].tags)

        snapshot_ids: list[int] = []
        if capture and new_links:
            snapshots = [
                Snapshot(link_id=link.pk, requested=now, priority=Snapshot.Priority.BULK)
                for link in new_links
            ]
            Snapshot.objects.bulk_create(snapshots, batch_size=500)
            snapshot_ids = [snapshot.pk for snapshot in snapshots]
            newest = Snapshot.objects.filter(link=OuterRef("pk")).order_by("-id").values("id")[:1]
            ids = list(created_ids.values())
            for start in range(0, len(ids), 500):
                Link.objects.filter(pk__in=ids[start : start + 500]).update(
                    latest_snapshot=Subquery(newest)
                )
        touched = list(created_ids.values()) + [
            link_id for normalized, link_id in existing_ids.items() if wanted[normalized].tags
        ]
        for start in range(0, len(touched), 500):
            batch = touched[start : start + 500]
            search.reindex_links(batch)
            if progress is not None:
                progress(len(batch))
        revision.bump()
        if snapshot_ids:
            if captures_run_in_place():
                result.captures_left_pending = max(0, len(snapshot_ids) - IN_PLACE_LIMIT)
            transaction.on_commit(lambda: queue_captures(snapshot_ids))
    return result


def enqueue_captures(snapshot_ids: list[int]) -> None:
    """Queue the capture task of each pending snapshot (snapshots.tasks decides how)."""
    # One transaction for all of them: with the database queue that is one commit, not thousands.
    with transaction.atomic():
        for snapshot_id in snapshot_ids:
            # Bulk: a link someone adds by hand meanwhile is captured before the rest of these.
            snapshot_enqueue(snapshot_id, priority=Snapshot.Priority.BULK)


@task()
def queue_imported_captures(snapshot_ids: list[int]) -> int:
    """Enqueue one capture per imported link, from the worker (see queue_captures)."""
    enqueue_captures(snapshot_ids)
    return len(snapshot_ids)


def queue_captures(snapshot_ids: list[int]) -> None:
    """Queue captures of newly imported links: directly for a few, through the worker for many.

    Each capture is still its own task; for a large file the enqueueing itself (a row per task on
    the database queue) is handed to the worker in batches, so the import answers in seconds.
    With a queue that runs tasks in place (``immediate``: no worker) only the first
    ``IN_PLACE_LIMIT`` are captured, so a large file cannot hold the request for hours; the rest
    stay pending for ``manage.py recapture --stuck``. Runs after the import committed: a queue
    that is down is logged, never raised (the links are saved, their snapshots pending, and the
    workers' recovery queues them again once it is back).
    """
    try:
        if captures_run_in_place():
            enqueue_captures(snapshot_ids[:IN_PLACE_LIMIT])
        elif len(snapshot_ids) <= DIRECT_ENQUEUE_LIMIT:
            enqueue_captures(snapshot_ids)
        else:
            for start in range(0, len(snapshot_ids), FANOUT_BATCH):
                queue_imported_captures.enqueue(snapshot_ids[start : start + FANOUT_BATCH])
    except Exception:
        logger.exception(
            "queueing the captures of %d imported links failed; they stay pending",
            len(snapshot_ids),
        )


__all__ = ["ImportResult", "import_bookmarks", "parse_bookmarks"]
