"""Snapshots: ask for a capture, serve the stored archive, delete it, recover interrupted ones.

The capture itself runs in the task ``snapshots.tasks.capture_snapshot``; this module is what the
library calls (on add, "capture again" and import) and what views use to read an archive back.

Worker restarts: a worker killed mid-capture leaves its snapshot ``running``.
``recover_stuck_snapshots`` queues such snapshots again (or fails them once their attempts are
used up). It runs when a worker process starts and every few minutes inside it (see
``SnapshotsConfig.ready`` → ``snapshots.tasks.start_stuck_capture_watch``), and on demand with
``manage.py recapture --stuck``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from kb.messages import Text, to_json
from snapshots.capture.archive import Asset, assemble, with_own_csp
from snapshots.capture.store import BlobStore
from snapshots.models import Blob, Link, Snapshot

__all__ = [
    "MAX_ATTEMPTS",
    "STUCK_AFTER",
    "RecoveryResult",
    "blob_store",
    "blobs_free_unused",
    "recover_stuck_snapshots",
    "snapshot_delete",
    "snapshot_enqueue",
    "snapshot_request",
    "snapshot_single_file",
]

logger = logging.getLogger(__name__)

# A capture is tried at most this many times in all (the first try and two retries).
MAX_ATTEMPTS = 3
# A capture ends within its 60-second deadline (capture.pipeline.CAPTURE_SECONDS); one still
# "running" long after that has lost its worker.
STUCK_AFTER = timedelta(minutes=5)


def blob_store() -> BlobStore:
    """The content-addressed store on the configured default storage (local files or S3)."""
    return BlobStore(storages["default"])


# --- asking for a capture -----------------------------------------------------------------------


def snapshot_request(*, link: Link, enqueue: bool = True) -> Snapshot:
    """A new pending snapshot of ``link``, made its latest, queued once the transaction commits.

    ``enqueue=False`` is for callers that run the capture themselves (``manage.py capture``).
    """
    with transaction.atomic():
        snapshot = Snapshot.objects.create(link=link, status=Snapshot.Status.PENDING)
        link.latest_snapshot = snapshot
        Link.objects.filter(pk=link.pk).update(latest_snapshot=snapshot)
        if enqueue:
            transaction.on_commit(lambda: snapshot_enqueue(snapshot.pk))
    return snapshot


def snapshot_enqueue(snapshot_id: int, *, delay: timedelta | None = None) -> None:
    """Queue the capture task for ``snapshot_id`` (after ``delay`` where the backend can wait)."""
    from snapshots.tasks import capture_snapshot

    task = capture_snapshot
    if delay is not None and delay > timedelta(0) and task.get_backend().supports_defer:
        task = task.using(run_after=timezone.now() + delay)
    result = task.enqueue(snapshot_id)
    Snapshot.objects.filter(pk=snapshot_id).update(task_id=str(result.id)[:64])


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
            except OSError:
                logger.warning("could not delete stored blob %s", sha, exc_info=True)

    transaction.on_commit(delete_files)
    return freed


# --- recovering from a dead worker --------------------------------------------------------------


@dataclass(frozen=True)
class RecoveryResult:
    requeued: list[int]
    failed: list[int]


def recover_stuck_snapshots(older_than: timedelta = STUCK_AFTER) -> RecoveryResult:
    """Take up snapshots left ``running`` by a worker that died: queue them again, or fail them.

    Each row changes by a conditional UPDATE, so several workers recovering at once never queue
    the same snapshot twice.
    """
    cutoff = timezone.now() - older_than
    stuck = Snapshot.objects.filter(status=Snapshot.Status.RUNNING).filter(
        Q(started__lt=cutoff) | Q(started__isnull=True, requested__lt=cutoff)
    )
    requeued: list[int] = []
    failed: list[int] = []
    for snapshot_id, attempts in stuck.values_list("pk", "attempts"):
        # Stored in English like every capture error: the database must not depend on the
        # language a request left active in this thread. The page translates error_message.
        error = Text.of(
            gettext_noop(
                "the capture was interrupted %(count)d times (the worker stopped) and was given up"
            ),
            count=attempts,
        )
        claim = Snapshot.objects.filter(pk=snapshot_id, status=Snapshot.Status.RUNNING)
        if attempts < MAX_ATTEMPTS:
            if claim.update(status=Snapshot.Status.PENDING):
                snapshot_enqueue(snapshot_id)
                requeued.append(snapshot_id)
        elif claim.update(
            status=Snapshot.Status.FAILED,
            finished=timezone.now(),
            error=error,
            error_message=to_json(error),
        ):
            failed.append(snapshot_id)
    if requeued or failed:
        logger.info("recovered stuck captures: requeued %s, failed %s", requeued, failed)
    return RecoveryResult(requeued=requeued, failed=failed)
