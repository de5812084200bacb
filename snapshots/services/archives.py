"""A snapshot's stored archive: reading it back as one file, deleting snapshots and freed blobs.

Captures are asked for, run, retried and recovered in ``snapshots.tasks`` (the capture queue);
this module is what views, the export and link deletion use once a snapshot exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from snapshots.capture.archive import Asset, assemble, with_own_csp
from snapshots.capture.store import BlobStore, blob_name, sha256_of
from snapshots.models import Blob, Link, Snapshot

__all__ = [
    "blob_store",
    "blobs_collect",
    "blobs_free_unused",
    "blobs_reference",
    "blobs_release",
    "is_archived_page",
    "page_title_refresh",
    "snapshot_delete",
    "snapshot_single_file",
    "snapshots_scrub",
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
        page_title_refresh(link_id)
        return blobs_free_unused(shas=used)


def page_title_refresh(*link_ids: int) -> None:
    """Give links the page title of their newest succeeded snapshot (or none, if none is left)."""
    newest = (
        Snapshot.objects.filter(link=OuterRef("pk"), status=Snapshot.Status.SUCCEEDED)
        .order_by("-requested", "-id")
        .values("title")[:1]
    )
    for start in range(0, len(link_ids), 500):
        Link.objects.filter(pk__in=link_ids[start : start + 500]).update(
            page_title=Coalesce(Subquery(newest), Value(""))
        )


def blobs_reference(snapshot: Snapshot, blobs: dict[str, tuple[int, str]]) -> bool:
    """Make ``snapshot`` use ``blobs`` (digest → size, content type) *before* their bytes are written.

    The reference row is what keeps a blob: from the moment this commits, no deletion elsewhere can
    remove these digests' rows or files (``blobs_collect`` re-checks references under a row lock).
    Writing first and referencing after left a window in which a link deleted at that moment took
    a blob this capture had just found already stored. False when the snapshot is gone.
    """

    def reference() -> bool:
        if not Snapshot.objects.select_for_update().filter(pk=snapshot.pk).exists():
            return False
        Blob.objects.bulk_create(
            [
                Blob(sha256=sha, size=size, content_type=kind[:255])
                for sha, (size, kind) in blobs.items()
            ],
            ignore_conflicts=True,
        )
        # An earlier attempt interrupted after referencing (its worker died) may have left others.
        stale = set(snapshot.blobs.values_list("sha256", flat=True)) - set(blobs)
        if stale:
            snapshot.blobs.remove(*stale)
            blobs_free_unused(shas=stale)
        snapshot.blobs.add(*blobs)
        return True

    # A blob row being deleted by blobs_collect at this moment makes the reference fail on
    # PostgreSQL (the row is gone when the lock is released): the next try makes it again.
    for attempt in range(1, 4):
        try:
            with transaction.atomic():
                return reference()
        except IntegrityError:
            if attempt == 3 or transaction.get_connection().in_atomic_block:
                raise
            logger.info(
                "a blob of snapshot %s was collected meanwhile; referencing again", snapshot.pk
            )
    raise AssertionError("unreachable")


def blobs_release(snapshot: Snapshot) -> set[str]:
    """Drop a failed or retried capture's references; the blobs only it used are collected."""
    shas = set(snapshot.blobs.values_list("sha256", flat=True))
    if not shas:
        return set()
    snapshot.blobs.clear()
    return blobs_free_unused(shas=shas)


def blobs_free_unused(*, shas: set[str] | None = None) -> set[str]:
    """The blobs no snapshot uses, among ``shas`` or all of them; they are collected on commit.

    Call it after deleting snapshots or links. The digests returned are those unused now; the
    collection after the transaction commits checks each again under a lock (a capture may have
    taken one up meanwhile, and then it stays).
    """
    freed = set(_unused(shas).values_list("sha256", flat=True))
    if freed:
        transaction.on_commit(lambda: blobs_collect(shas=freed))
    return freed


def blobs_collect(*, shas: set[str] | None = None, batch: int = 500) -> set[str]:
    """Delete the rows and stored files of blobs no snapshot uses; returns the digests deleted.

    Garbage collection as its own step, each batch in a transaction that locks the candidate rows
    and then checks again that nothing uses them. A capture referencing one of them waits for the
    lock and then makes the row again (``blobs_reference``), so it never relies on bytes being
    deleted. Files are deleted while the rows are locked, before the commit: if the commit then
    failed, a row would be left without its file, and the next capture to use that digest writes
    it again (``BlobStore.put`` checks the file, not the row) — never the other way round.
    """
    candidates = sorted(_unused(shas).values_list("sha256", flat=True))
    store = blob_store()
    collected: set[str] = set()
    for start in range(0, len(candidates), batch):
        chunk = candidates[start : start + batch]
        with transaction.atomic():
            locked = list(
                Blob.objects.select_for_update()
                .filter(sha256__in=chunk)
                .values_list("sha256", flat=True)
            )
            unused = set(_unused(set(locked)).values_list("sha256", flat=True))
            Blob.objects.filter(sha256__in=unused).delete()
            for sha in sorted(unused):
                try:
                    store.delete(sha)
                except Exception:  # a file left behind costs space, never a capture
                    logger.warning("could not delete stored blob %s", sha, exc_info=True)
            collected |= unused
    return collected


def _unused(shas: set[str] | None):
    unused = Blob.objects.filter(snapshots__isnull=True, archived_by__isnull=True)
    return unused if shas is None else unused.filter(sha256__in=shas)


# --- checking what is stored --------------------------------------------------------------------


@dataclass(frozen=True)
class BrokenSnapshot:
    snapshot_id: int
    link_id: int
    url: str
    missing: list[str]  # digests whose bytes are gone (or, verified, not what their name says)
    archive_missing: bool


@dataclass(frozen=True)
class ScrubReport:
    snapshots: int
    blobs: int
    broken: list[BrokenSnapshot]
    unused_blobs: int


def snapshots_scrub(*, verify: bool = False) -> ScrubReport:
    """Check that every succeeded snapshot's archive and assets are in the store.

    Each digest is looked up once however many snapshots share it; ``verify`` also reads the
    bytes back and checks their size and SHA-256 (slow: every stored byte is read).
    """
    store = blob_store()
    sizes = dict(Blob.objects.values_list("sha256", "size"))
    succeeded = Snapshot.objects.filter(status=Snapshot.Status.SUCCEEDED).select_related("link")
    uses = Snapshot.blobs.through.objects.filter(snapshot__status=Snapshot.Status.SUCCEEDED)
    used_by: dict[int, set[str]] = {}
    for snapshot_id, sha in uses.values_list("snapshot_id", "blob_id").iterator():
        used_by.setdefault(snapshot_id, set()).add(sha)
    checked: dict[str, bool] = {}

    def whole(sha: str) -> bool:
        if sha not in checked:
            checked[sha] = sha in sizes and _stored_whole(store, sha, sizes[sha], verify)
        return checked[sha]

    broken: list[BrokenSnapshot] = []
    count = 0
    for snapshot in succeeded.order_by("pk").iterator():
        count += 1
        shas = used_by.get(snapshot.pk, set())
        if snapshot.archive_id:
            shas = shas | {snapshot.archive_id}
        missing = sorted(sha for sha in shas if not whole(sha))
        archive_missing = snapshot.archive_id is None or snapshot.archive_id in missing
        if missing or archive_missing:
            broken.append(
                BrokenSnapshot(
                    snapshot_id=snapshot.pk,
                    link_id=snapshot.link_id,
                    url=snapshot.link.url,
                    missing=missing,
                    archive_missing=archive_missing,
                )
            )
    return ScrubReport(
        snapshots=count, blobs=len(checked), broken=broken, unused_blobs=_unused(None).count()
    )


def _stored_whole(store: BlobStore, sha: str, size: int, verify: bool) -> bool:
    try:
        if not verify:
            return store.exists(sha) and store.storage.size(blob_name(sha)) == size
        body = store.read(sha)
    except Exception:  # unreadable counts as missing; the report names it
        logger.warning("stored blob %s cannot be read", sha, exc_info=True)
        return False
    return len(body) == size and sha256_of(body) == sha
