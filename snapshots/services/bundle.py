"""A library bundle: one zip that holds a user's whole library, for backups and for moving it.

It is what ``manage.py backup`` writes and the zip the export page offers, and what
``manage.py restore`` and the import page read back (``bundle_import``). Members:

- ``kb.json`` — the manifest (``FORMAT`` / ``VERSION`` 1): every link (URL, the user's own title —
  never the captured one, which stays with its snapshot —, description, notes, tags, privacy,
  read state, added and modified dates) with every snapshot of its history (state, dates,
  metadata, final URL, text, and the stored blobs it uses, named by their SHA-256), and a table of
  those blobs (size, content type). It is written last, once every blob in it is in the zip.
- ``blobs/<sha256>`` — each stored blob once (page skeletons, documents, assets, icons…), as
  stored, so a restore puts back exactly the same bytes under the same names.
- ``bookmarks.html`` — the Netscape bookmark file, for any other tool.
- ``archives/<id>-<slug>.html`` — each link's latest archived page as one file (the export page's
  zip; ``backup`` leaves them out, they are assembled from the blobs).

Snapshot fields are written from the model (every concrete field but the row ids, the link and the
queue's task id), so a field added later travels without a change here; a foreign key to a blob is
written as its digest.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, BinaryIO

from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from snapshots.capture.store import BlobUnavailable, blob_name
from snapshots.models import Blob, Link, Snapshot
from snapshots.queries import TAG_LIST
from snapshots.services.archives import blob_store, snapshot_single_file
from snapshots.services.exporter import FOOTER, HEADER, archive_name, bookmark_entry

logger = logging.getLogger(__name__)

FORMAT = "kb-library"
VERSION = 1
MANIFEST = "kb.json"
BOOKMARKS = "bookmarks.html"
BLOBS_DIR = "blobs/"
PAGES_DIR = "archives/"
_CHUNK = 200

# Snapshot fields that are not part of the history: row ids, the owning link, the queue's job.
_NOT_WRITTEN = {"id", "link", "task_id", "blobs"}

__all__ = [
    "BLOBS_DIR",
    "FORMAT",
    "MANIFEST",
    "VERSION",
    "BundleWritten",
    "export_archive_zip",
    "snapshot_fields",
    "write_bundle",
]


@dataclass
class BundleWritten:
    links: int = 0
    snapshots: int = 0
    blobs: int = 0
    pages: int = 0
    blob_bytes: int = 0
    # Digests the store could not read (a broken blob): left out, and named in the manifest.
    missing: list[str] = field(default_factory=list)


def snapshot_fields() -> list[models.Field]:
    """The snapshot fields a bundle carries, in model order."""
    return [
        f
        for f in Snapshot._meta.get_fields()
        if getattr(f, "concrete", False)
        and not f.many_to_many
        and f.name not in _NOT_WRITTEN
        # a row of another table would not exist on the machine it moves to; blobs travel along
        and (not isinstance(f, models.ForeignKey) or f.related_model is Blob)
    ]


def _blob_keys() -> list[models.Field]:
    """Snapshot foreign keys to a blob (the archive, and any added later)."""
    return [
        f for f in snapshot_fields() if isinstance(f, models.ForeignKey) and f.related_model is Blob
    ]


def _member(name: str) -> zipfile.ZipInfo:
    """A member written through ``ZipFile.open``, dated now (not 1980) and compressed."""
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _as_json(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _snapshot_entry(snapshot: Snapshot, blob_ids: list[str], latest: bool) -> dict:
    entry = {}
    for f in snapshot_fields():
        if isinstance(f, models.ForeignKey):
            entry[f.name] = getattr(snapshot, f.attname)
        else:
            entry[f.name] = _as_json(getattr(snapshot, f.attname))
    entry["blobs"] = sorted(blob_ids)
    entry["latest"] = latest
    return entry


def _link_entry(link: Link, snapshots: list[Snapshot], used: dict[int, list[str]]) -> dict:
    return {
        "url": link.url,
        # The user's own title only: a captured title stays with its snapshot, so a restore
        # never pins it as the user's.
        "title": link.title,
        "description": link.description,
        "notes": link.notes,
        "tags": link.tag_names,
        "private": link.private,
        "unread": link.unread,
        "created": _as_json(link.created),
        "updated": _as_json(link.updated),
        "snapshots": [
            _snapshot_entry(s, used.get(s.pk, []), s.pk == link.latest_snapshot_id)
            for s in snapshots
        ],
    }


def _link_ids(links) -> list[int]:
    if isinstance(links, QuerySet):
        return list(links.order_by().values_list("pk", flat=True).distinct())
    return [link.pk for link in links]


def _chunks(ids: list[int]) -> Iterator[list[Link]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(
            Link.objects.filter(pk__in=ids[start : start + _CHUNK])
            .prefetch_related(TAG_LIST)
            .select_related("latest_snapshot")
            .defer("latest_snapshot__text", "latest_snapshot__reader_html")
            .order_by("created", "id")
        )


def _history(
    link_ids: list[int], *, texts: bool = True
) -> tuple[dict[int, list[Snapshot]], dict[int, list[str]]]:
    """Each link's snapshots, oldest first, and each snapshot's blob digests."""
    by_link: dict[int, list[Snapshot]] = {}
    snapshots = Snapshot.objects.filter(link_id__in=link_ids).order_by("requested", "id")
    if not texts:
        snapshots = snapshots.defer("text", "reader_html")
    for snapshot in snapshots:
        by_link.setdefault(snapshot.link_id, []).append(snapshot)
    used: dict[int, list[str]] = {}
    through = Snapshot.blobs.through.objects.filter(snapshot__link_id__in=link_ids)
    for snapshot_id, sha in through.values_list("snapshot_id", "blob_id"):
        used.setdefault(snapshot_id, []).append(sha)
    return by_link, used


def _digests(snapshots: Iterable[Snapshot], used: dict[int, list[str]]) -> list[str]:
    keys = _blob_keys()
    found: set[str] = set()
    for snapshot in snapshots:
        found.update(used.get(snapshot.pk, []))
        found.update(getattr(snapshot, k.attname) for k in keys if getattr(snapshot, k.attname))
    return sorted(found)


def _latest_page(link: Link, snapshots: list[Snapshot]) -> Snapshot | None:
    for snapshot in reversed(snapshots):
        if snapshot.status == Snapshot.Status.SUCCEEDED and snapshot.archive_id:
            return snapshot
    return None


def write_bundle(
    *,
    links: Iterable[Link] | QuerySet[Link],
    stream: BinaryIO | IO[bytes],
    owner_name: str = "",
    pages: bool = True,
    progress: Callable[[int], None] | None = None,
) -> BundleWritten:
    """Write the bundle of ``links`` to ``stream`` (need not be seekable); see the module docstring.

    ``pages``: also write each link's latest archived page as one HTML file (for reading the zip
    without kb). ``progress(n)`` is called after each chunk of n links.
    """
    written = BundleWritten()
    ids = _link_ids(links)
    store = blob_store()
    stored: dict[str, Blob] = {}
    entries: list[str] = []
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        # First pass: blobs, readable pages and bookmark lines, a chunk of links at a time.
        for chunk in _chunks(ids):
            by_link, used = _history([link.pk for link in chunk], texts=False)
            every = [s for snapshots in by_link.values() for s in snapshots]
            digests = [sha for sha in _digests(every, used) if sha not in stored]
            for blob in Blob.objects.filter(sha256__in=digests):
                try:
                    # The source is opened first: a missing file writes no member.
                    with (
                        store.storage.open(blob_name(blob.sha256), "rb") as source,
                        zf.open(_member(BLOBS_DIR + blob.sha256), "w", force_zip64=True) as target,
                    ):
                        shutil.copyfileobj(source, target, 1024 * 1024)
                except OSError as exc:
                    logger.warning("stored blob %s is unreadable: %s", blob.sha256, exc)
                    written.missing.append(blob.sha256)
                    continue
                except Exception as exc:  # a store that does not answer: no bundle without it
                    raise BlobUnavailable(f"blob {blob.sha256}: {exc}") from exc
                stored[blob.sha256] = blob
                written.blobs += 1
                written.blob_bytes += blob.size
            for link in chunk:
                entries.append(bookmark_entry(link, _write_page(zf, link, by_link, written, pages)))
            if progress is not None:
                progress(len(chunk))
        zf.writestr(BOOKMARKS, HEADER + "".join(entries) + FOOTER)

        # Last, the manifest, streamed link by link (a large library need not fit in memory).
        with zf.open(_member(MANIFEST), "w", force_zip64=True) as raw:

            def put(text: str) -> None:
                raw.write(text.encode("utf-8"))

            head = {
                "format": FORMAT,
                "version": VERSION,
                "written": timezone.now().isoformat(),
                "owner": owner_name,
            }
            put(json.dumps(head, ensure_ascii=False)[:-1] + ', "links": [\n')
            first = True
            for chunk in _chunks(ids):
                by_link, used = _history([link.pk for link in chunk])
                for link in chunk:
                    snapshots = by_link.get(link.pk, [])
                    entry = _link_entry(link, snapshots, used)
                    put(("" if first else ",\n") + json.dumps(entry, ensure_ascii=False))
                    first = False
                    written.links += 1
                    written.snapshots += len(snapshots)
            blobs = {
                sha: {"size": blob.size, "content_type": blob.content_type}
                for sha, blob in sorted(stored.items())
            }
            put('\n], "blobs": ' + json.dumps(blobs, ensure_ascii=False))
            put(', "missing_blobs": ' + json.dumps(sorted(written.missing)) + "}\n")
    return written


def _write_page(
    zf: zipfile.ZipFile,
    link: Link,
    by_link: dict[int, list[Snapshot]],
    written: BundleWritten,
    pages: bool,
) -> str:
    """Write the link's latest archived page as one file; its path in the zip, or "" for none."""
    page = _latest_page(link, by_link.get(link.pk, [])) if pages else None
    if page is None:
        return ""
    try:
        body = snapshot_single_file(page)
    except (LookupError, OSError) as exc:
        logger.warning("archive of snapshot %s is unreadable: %s", page.pk, exc)
        return ""
    name = archive_name(link, page)
    zf.writestr(name, body)
    written.pages += 1
    return name


def export_archive_zip(
    *,
    links: Iterable[Link] | QuerySet[Link],
    stream: BinaryIO | IO[bytes],
    progress: Callable[[int], None] | None = None,
    owner_name: str = "",
) -> int:
    """The export page's zip: the bundle with each link's latest archived page as one HTML file
    (``archives/<id>-<slug>.html``). Returns how many archived pages were written."""
    written = write_bundle(
        links=links, stream=stream, owner_name=owner_name, pages=True, progress=progress
    )
    return written.pages
