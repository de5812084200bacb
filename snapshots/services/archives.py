"""A snapshot's stored archive: reading it back as one file, deleting snapshots and freed blobs.

Captures are asked for, run, retried and recovered in ``snapshots.tasks`` (the capture queue);
this module is what views, the export and link deletion use once a snapshot exists.
"""

from __future__ import annotations

import logging

from django.core.files.storage import storages
from django.db import transaction

from snapshots.capture.archive import Asset, assemble, with_own_csp
from snapshots.capture.store import BlobStore
from snapshots.models import Blob, Link, Snapshot

__all__ = [
    "blob_store",
    "blobs_free_unused",
    "is_archived_page",
    "snapshot_delete",
    "snapshot_single_file",
]

logger = logging.getLogger(__name__)


def blob_store() -> BlobStore:
    """The content-addressed store on the configured default storage (local files or S3)."""
    return BlobStore(storages["default"])


# --- reading the archive back -------------------------------------------------------------------


def snapshot_single_file(snapshot: Snapshot) -> bytes:
    """The stored capture as one file: the assembled HTML page, or the document as it came.

    Raises ``LookupError`` when the snapshot has no stored archive (not captured, or failed).
    """
    if snapshot.archive_id is None:
        raise LookupError(f"snapshot {snapshot.pk} has no stored archive")
    store = blob_store()
    skeleton = store.read(snapshot.archive_id)
    if not is_archived_page(snapshot):
        return skeleton
    content_types = dict(snapshot.blobs.values_list("sha256", "content_type"))

    def load(sha: str) -> Asset:
        return Asset(content_types.get(sha, ""), store.read(sha))

    return assemble(with_own_csp(skeleton.decode("utf-8")), load).encode("utf-8")


def is_archived_page(snapshot: Snapshot) -> bool:
    """True when the stored archive is an HTML skeleton (not a document kept as it came)."""
    media_type = snapshot.content_type.split(";", 1)[0].strip().lower()
    return media_type in ("", "text/html", "application/xhtml+xml") or (
        snapshot.archive is not None and snapshot.archive.content_type.startswith("text/html")
    )


# --- deleting -----------------------------------------------------------------------------------


def snapshot_delete(*, snapshot: Snapshot) -> set[str]:
    """Delete ``snapshot`` and the blobs only it used; returns the digests freed.

    If it was its link's latest snapshot, the next newest one takes its place.
    """
    with transaction.atomic():
        link_id = snapshot.link_id
        used = set(snapshot.blobs.values_list("sha256", flat=True))
        if snapshot.archive_id:
            used.add(snapshot.archive_id)
        snapshot.delete()
        newest = Snapshot.objects.filter(link_id=link_id).order_by("-requested", "-id").first()
        Link.objects.filter(pk=link_id, latest_snapshot__isnull=True).update(latest_snapshot=newest)
        return blobs_free_unused(shas=used)


def blobs_free_unused(*, shas: set[str] | None = None) -> set[str]:
    """Delete the blobs (rows and stored files) no snapshot uses, among ``shas`` or all of them.

    Call it after deleting links too (their snapshots go with them). Files are removed after the
    transaction commits, and only if no capture has claimed the digest again meanwhile.
    """
    orphans = Blob.objects.filter(snapshots__isnull=True, archived_by__isnull=True)
    if shas is not None:
        orphans = orphans.filter(sha256__in=shas)
    freed = set(orphans.values_list("sha256", flat=True))
    if not freed:
        return set()
    Blob.objects.filter(sha256__in=freed).delete()

    def delete_files() -> None:
        store = blob_store()
        reclaimed = set(Blob.objects.filter(sha256__in=freed).values_list("sha256", flat=True))
        for sha in freed - reclaimed:
            try:
                store.delete(sha)
            except Exception:  # a disk error or an object store that does not answer: the rows
                # are gone, so the deletion stands; only the space is not given back
                logger.warning("could not delete stored blob %s", sha, exc_info=True)

    transaction.on_commit(delete_files)
    return freed
