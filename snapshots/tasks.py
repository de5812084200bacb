"""The capture queue: asking for a capture, the task that runs it, its retries, and recovery.

The one place the pure pipeline meets the models. ``snapshot_request(link=...)`` makes a pending
snapshot, the link's latest, and enqueues ``capture_snapshot`` once the transaction commits.

Who goes first: a capture a person asked for (adding a link in a page, the API, the extension or
a share; "Capture again") has ``Snapshot.Priority.ASKED``; imports, ``manage.py recapture``,
``scrub --requeue`` and the library's bulk "Capture again" have ``BULK``. The snapshot keeps it and
every enqueue passes it on as the task's priority (retries and recovered captures too): the
database queue claims the highest priority first, the rq queue puts it at the front
(kb.task_backends). ``captures_ahead`` counts in the same order.

``capture_snapshot(snapshot_id)`` reads top to bottom: claim the snapshot (pending → running, by
a conditional UPDATE, so a second run of the same task does nothing), run the pure steps
(``engines.capture``: fetch → decode → [render] → inline → extract), store the blobs, save the snapshot and
its link, update the search index.

Transient failures (timeouts, broken connections, 429 and 5xx answers) are tried again, at most
``MAX_ATTEMPTS`` times in all, after ``KB_CAPTURE_RETRY_DELAYS`` seconds; a backend that can
defer work (database, rq) gets the retry as a new task with ``run_after``, one that cannot
(immediate) waits in place. Refusals, 4xx answers and oversize pages fail at once. The failure
sentence (``CaptureError.sentence``) is stored in English in ``Snapshot.error`` (what the API
sends) and as its template and values in ``Snapshot.error_message``, which the pages translate.

Recovery, without a person: the database, not the broker, is the truth. A worker killed
mid-capture leaves its snapshot ``running``; ``recover_stuck_snapshots`` queues such snapshots
again (or fails them once their attempts are used up). A snapshot whose enqueue failed (Redis
down: the add still answers, ``snapshot_enqueue`` logs) or whose job the broker lost stays
``pending``; ``requeue_lost_captures`` asks the backend about its job (``task_id``) and queues it
again when the job is not alive. Both run in ``recover_captures``, when a worker process starts
and every ``WATCH_EVERY`` inside it (``start_stuck_capture_watch``, called by
``SnapshotsConfig.ready``), and on demand with ``manage.py recapture --stuck``.

Settings (declared in kb/settings.py, read here): ``KB_FETCH_ALLOW_HOSTS``;
``KB_CAPTURE_RETRY_DELAYS`` (seconds before the 2nd and the 3rd attempt);
``KB_CAPTURE_FETCH_OPTIONS`` (``FetchPolicy`` fields such as ``read_timeout``, plus ``seconds``
for the whole capture); ``KB_CAPTURE_LIMITS`` (``Limits`` fields). Tests use the last three to
stay fast.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_date
from django_tasks import TaskResultStatus, task
from django_tasks.backends.immediate import ImmediateBackend
from django_tasks.exceptions import TaskResultDoesNotExist

from kb.database import connection_was_lost
from kb.heartbeat import live_workers
from kb.messages import Text, gettext_noop, to_json
from snapshots import search
from snapshots.capture.browser import find_chromium
from snapshots.capture.collector import Limits
from snapshots.capture.engines import capture as capture_with_engine
from snapshots.capture.errors import TIMEOUT_SENTENCES, CaptureError
from snapshots.capture.fetch import FetchPolicy
from snapshots.capture.pipeline import (
    CAPTURE_SECONDS,
    Capture,
    default_policy,
    single_file,
)
from snapshots.capture.store import BlobStore, sha256_of
from snapshots.models import Link, Snapshot
from snapshots.normalize import clean_text
from snapshots.services.archives import (
    blob_store,
    blobs_collect,
    blobs_free_unused,
    blobs_reference,
    blobs_release,
    page_title_refresh,
)

logger = logging.getLogger(__name__)

# A capture is tried at most this many times in all (the first try and two retries).
MAX_ATTEMPTS = 3
# A capture ends within its 60-second deadline (capture.pipeline.CAPTURE_SECONDS); one still
# "running" long after that has lost its worker.
STUCK_AFTER = timedelta(minutes=5)
# A worker running a capture says so this often; one silent for LEASE_LOST has died.
LEASE_BEAT = timedelta(seconds=10)
LEASE_LOST = timedelta(seconds=45)
# A snapshot pending this long whose job the queue does not hold was lost: it is queued again.
LOST_AFTER = timedelta(seconds=60)
# A retry's reads time out after this many seconds (KB_CAPTURE_RETRY_SECONDS bounds the whole).
RETRY_READ_TIMEOUT = 5.0
# A capture of a host already at its limit (KB_CAPTURE_PER_HOST) is queued again after 1-2 × this.
HOST_WAIT = timedelta(seconds=5)
# A host one of whose captures timed out this recently gets one capture at a time.
HUNG_RECENTLY = timedelta(minutes=10)
# How often a worker's watch looks for stuck and lost captures.
WATCH_EVERY = timedelta(seconds=30)
# How often it deletes stored blobs that no snapshot uses (a full pass over the blob table).
COLLECT_EVERY = timedelta(hours=1)
# The processes that run captures, and so watch for stuck ones.
WORKER_COMMANDS = frozenset({"db_worker", "rqworker", "rqworker-pool"})
# Waiting in place holds a web request (immediate backend) or a command: never for long.
MAX_WAIT_IN_PLACE = 5.0
INTERNAL_ERROR = gettext_noop("the capture failed because of an error in kb; it has been logged")
STORAGE_ERROR = gettext_noop("the page was fetched but could not be stored; it has been logged")
CONNECTION_LOST = gettext_noop(
    "the connection to the database was interrupted; the capture will be tried again"
)


# --- asking for a capture -----------------------------------------------------------------------


def snapshot_request(
    *,
    link: Link,
    enqueue: bool = True,
    engine: str = "",
    priority: int = Snapshot.Priority.BULK,
) -> Snapshot:
    """A new pending snapshot of ``link``, made its latest, queued once the transaction commits.

    ``enqueue=False`` is for callers that run the capture themselves (``manage.py capture``);
    ``engine`` (auto, static, browser) overrides ``KB_CAPTURE_ENGINE`` for this capture;
    ``priority`` is ``Snapshot.Priority.ASKED`` when a person is waiting for it (they go ahead of
    imports and scheduled re-captures), else bulk.
    """
    with transaction.atomic():
        # The link's row held first: deleted meanwhile, this is Link.DoesNotExist, not an orphan.
        if not Link.objects.select_for_update().filter(pk=link.pk).exists():
            raise Link.DoesNotExist("the link was deleted")
        snapshot = Snapshot.objects.create(
            link=link, status=Snapshot.Status.PENDING, requested_engine=engine, priority=priority
        )
        link.latest_snapshot = snapshot
        Link.objects.filter(pk=link.pk).update(latest_snapshot=snapshot)
        if enqueue:
            transaction.on_commit(lambda: snapshot_enqueue(snapshot.pk, priority=priority))
    return snapshot


def captures_ahead(snapshot: Snapshot) -> int:
    """How many queued captures the workers take before ``snapshot`` (everyone's: they share the
    workers): those of a higher priority, then those of its own asked for earlier. The number its
    page shows as waiting ahead; index ranges of (status, priority, requested)."""
    return (
        Snapshot.objects.filter(status=Snapshot.Status.PENDING)
        .filter(
            Q(priority__gt=snapshot.priority)
            | Q(priority=snapshot.priority, requested__lt=snapshot.requested)
            | Q(priority=snapshot.priority, requested=snapshot.requested, pk__lt=snapshot.pk)
        )
        .count()
    )


def captures_run_in_place() -> bool:
    """True when the queue runs each task inside the caller (``immediate``: there is no worker)."""
    return isinstance(capture_snapshot.get_backend(), ImmediateBackend)


def snapshot_enqueue(
    snapshot_id: int, *, delay: timedelta | None = None, priority: int | None = None
) -> bool:
    """Queue the capture task for ``snapshot_id`` (after ``delay`` where the backend can wait).

    The task goes into the backend's queue with the snapshot's own ``priority`` (read from its row
    unless given), so a retry or a recovered capture keeps its place ahead of bulk work.

    False when the queue refused it (Redis down, any broker error): that is logged, never raised,
    because the snapshot is already saved, pending, and ``requeue_lost_captures`` queues it again
    once the queue is back. The database, not the broker, is the truth about what is to capture.
    """
    if priority is None:
        priority = (
            Snapshot.objects.filter(pk=snapshot_id).values_list("priority", flat=True).first()
        )
    task = capture_snapshot
    if priority and task.get_backend().supports_priority:
        task = task.using(priority=priority)
    if delay is not None and delay > timedelta(0) and task.get_backend().supports_defer:
        task = task.using(run_after=timezone.now() + delay)
    try:
        # A savepoint inside a caller's transaction: a failed insert (database queue) must not
        # break the transaction around it.
        with (
            transaction.atomic() if transaction.get_connection().in_atomic_block else nullcontext()
        ):
            result = task.enqueue(snapshot_id)
    except Exception:
        logger.exception(
            "queueing the capture of snapshot %s failed; it stays pending", snapshot_id
        )
        return False
    Snapshot.objects.filter(pk=snapshot_id).update(task_id=str(result.id)[:64])
    return True


# --- the task -----------------------------------------------------------------------------------


@task()
def capture_snapshot(snapshot_id: int) -> str:
    """Capture the pending snapshot ``snapshot_id``; returns its status (or ``skipped``)."""
    can_defer = capture_snapshot.get_backend().supports_defer
    try:
        return run_capture(snapshot_id, wait_for_retries=not can_defer)
    except DatabaseError as error:
        if not connection_was_lost(error):
            raise
        return give_back_after_lost_connection(snapshot_id)


def give_back_after_lost_connection(snapshot_id: int) -> str:
    """The database connection was cut off in the middle of a capture (PostgreSQL restarted or
    failed over): on a new connection the capture goes back to the queue at once, instead of
    waiting until its lease runs out. If the database does not answer for a while, the lease
    recovery (``recover_stuck_snapshots``) takes it up once it does."""
    logger.warning("database connection lost during the capture of snapshot %s", snapshot_id)
    for pause in (0.5, 1, 2, 4):
        connections.close_all()
        time.sleep(pause)
        try:
            snapshot = Snapshot.objects.filter(pk=snapshot_id).first()
            if snapshot is None or snapshot.status != Snapshot.Status.RUNNING:
                return "skipped"  # finished before the connection went, or deleted
            release_for_retry(snapshot, CONNECTION_LOST)
            break
        except DatabaseError as error:
            if not connection_was_lost(error):
                raise
    else:
        return Snapshot.Status.RUNNING  # the lease recovery takes it up
    snapshot_enqueue(snapshot_id, delay=timedelta(seconds=1))
    return Snapshot.Status.PENDING


def run_capture(snapshot_id: int, *, wait_for_retries: bool = True) -> str:
    """Run the capture of one snapshot now; retries wait in place if ``wait_for_retries``."""
    while True:
        snapshot = claim(snapshot_id)
        if snapshot is None:
            return "skipped"  # finished, running elsewhere, or deleted
        if not wait_for_retries and host_is_busy(snapshot):
            wait_for_host(snapshot)
            return Snapshot.Status.PENDING
        with capture_lease(snapshot.pk):
            outcome = attempt(snapshot, wait_for_retries=wait_for_retries)
        if outcome is not None:
            return outcome


def attempt(snapshot: Snapshot, *, wait_for_retries: bool) -> str | None:
    """One attempt at a claimed snapshot: its outcome, or None to try again now (in place)."""
    snapshot_id = snapshot.pk
    try:
        captured = capture_with_engine(
            snapshot.link.url,
            capture_policy(snapshot.attempts),
            capture_limits(),
            engine=snapshot.requested_engine or settings.KB_CAPTURE_ENGINE,
            chromium=capture_chromium(),
        )
    except CaptureError as error:
        delay = retry_delay(snapshot.attempts) if error.transient else None
        if delay is None:
            return save_failure(snapshot, error.sentence, getattr(error, "status", None))
        release_for_retry(snapshot, error.sentence)
        if not wait_for_retries:
            snapshot_enqueue(snapshot.pk, delay=timedelta(seconds=delay))
            return Snapshot.Status.PENDING
        time.sleep(min(delay, MAX_WAIT_IN_PLACE))
        return None
    except Exception:
        logger.exception("capture of snapshot %s failed", snapshot_id)
        return save_failure(snapshot, INTERNAL_ERROR)

    planned = plan_blobs(captured)
    if not blobs_reference(snapshot, planned.blobs):
        return "skipped"  # the link was deleted while its page was being fetched
    try:
        stored = store_blobs(blob_store(), planned)
    except Exception:  # a full disk or an unreachable object store: say so, keep nothing
        logger.exception("storing the capture of snapshot %s failed", snapshot_id)
        return save_failure(snapshot, STORAGE_ERROR)
    status = save_success(snapshot, captured, stored)
    if status == Snapshot.Status.SUCCEEDED:
        reindex_link(snapshot.link_id)
    return status


# --- the steps, in the order the task takes them ------------------------------------------------


@contextmanager
def capture_lease(snapshot_id: int):
    """In a worker process, say every ``LEASE_BEAT`` that this running capture is still alive.

    A worker killed in the middle (kill -9, out of memory, the machine gone) stops saying so, and
    ``recover_stuck_snapshots`` takes the capture up ``LEASE_LOST`` later rather than after
    ``STUCK_AFTER``. Outside worker processes (the immediate backend, commands) captures run in
    the caller, which would see its own failure: no lease thread.
    """
    if not _watch_started:
        yield
        return
    done = threading.Event()

    def beat() -> None:
        try:
            while not done.wait(LEASE_BEAT.total_seconds()):
                Snapshot.objects.filter(pk=snapshot_id, status=Snapshot.Status.RUNNING).update(
                    alive_at=timezone.now()
                )
        except Exception:  # the capture goes on; at worst it is taken up again later
            logger.warning("the lease of capture %s stopped", snapshot_id, exc_info=True)
        finally:
            connections.close_all()

    thread = threading.Thread(target=beat, name=f"kb-lease-{snapshot_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)


def claim(snapshot_id: int) -> Snapshot | None:
    """Mark a pending snapshot running (one attempt more); None if it is not pending."""
    now = timezone.now()
    claimed = Snapshot.objects.filter(pk=snapshot_id, status=Snapshot.Status.PENDING).update(
        status=Snapshot.Status.RUNNING,
        attempts=F("attempts") + 1,
        started=now,
        # only a worker keeps a lease (capture_lease); a command's capture is not watched so
        alive_at=now if _watch_started else None,
    )
    if not claimed:
        return None
    return Snapshot.objects.select_related("link").get(pk=snapshot_id)


def capture_policy(attempt: int = 1) -> FetchPolicy:
    """The fetch policy of attempt number ``attempt``: a retry gets less time.

    A page that hung once most likely hangs again; a retry that waits as long as the first
    attempt holds a worker for minutes in all (3 × 60 s) while every other capture waits.
    """
    options = dict(settings.KB_CAPTURE_FETCH_OPTIONS)
    if attempt > 1:
        options["seconds"] = min(
            float(options.get("seconds", CAPTURE_SECONDS)), settings.KB_CAPTURE_RETRY_SECONDS
        )
        options["read_timeout"] = min(float(options.get("read_timeout", 15.0)), RETRY_READ_TIMEOUT)
    return default_policy(allow_hosts=settings.KB_FETCH_ALLOW_HOSTS, **options)


def host_is_busy(snapshot: Snapshot) -> bool:
    """Are as many captures of this link's host running as it may have, started before this one?

    The limit is ``KB_CAPTURE_PER_HOST``, or 1 for a host that hung in the last ``HUNG_RECENTLY``:
    a slow or hanging site then holds one worker, not all of them. Only captures started before
    this one count (the earliest go on), and none a dead worker left running long ago.
    """
    domain = snapshot.link.domain
    if not domain:
        return False
    now = timezone.now()
    limit = 1 if host_hung_recently(domain, now) else per_host_limit(domain, now)
    ahead = (
        Snapshot.objects.filter(
            status=Snapshot.Status.RUNNING, link__domain=domain, started__gte=now - STUCK_AFTER
        )
        .exclude(pk=snapshot.pk)
        .filter(Q(started__lt=snapshot.started) | Q(started=snapshot.started, pk__lt=snapshot.pk))
    )
    return ahead.count() >= limit


def per_host_limit(domain: str, now) -> int:
    """``KB_CAPTURE_PER_HOST``; but while other hosts' captures wait, one live worker is left to them.

    With two workers and the default of two, two pages of one site that hang held both while
    everything else waited. A host alone in the queue may still use every worker.
    """
    limit = settings.KB_CAPTURE_PER_HOST
    workers = live_workers(now).count()
    if workers > 1 and limit >= workers:
        others_wait = (
            Snapshot.objects.filter(status=Snapshot.Status.PENDING)
            .exclude(link__domain=domain)
            .exists()
        )
        if others_wait:
            return workers - 1
    return limit


def host_hung_recently(domain: str, now) -> bool:
    return Snapshot.objects.filter(
        link__domain=domain,
        started__gte=now - HUNG_RECENTLY,
        error_message__template__in=TIMEOUT_SENTENCES,
    ).exists()


def wait_for_host(snapshot: Snapshot) -> None:
    """Give the claim back (the attempt does not count) and queue the capture a little later."""
    released = Snapshot.objects.filter(pk=snapshot.pk, status=Snapshot.Status.RUNNING).update(
        status=Snapshot.Status.PENDING, attempts=F("attempts") - 1, started=None
    )
    if released:
        delay = HOST_WAIT.total_seconds() * random.uniform(1.0, 2.0)  # noqa: S311 (jitter)
        snapshot_enqueue(snapshot.pk, delay=timedelta(seconds=delay))


def capture_chromium() -> str | None:
    """The Chromium the browser engine drives (KB_CHROMIUM, else on PATH); None: static only."""
    return find_chromium(settings.KB_CHROMIUM)


def capture_limits() -> Limits:
    return Limits(**settings.KB_CAPTURE_LIMITS)


def retry_delay(attempts_made: int) -> float | None:
    """Seconds to wait before the next attempt, or None when no attempt is left."""
    if attempts_made >= MAX_ATTEMPTS:
        return None
    delays = tuple(settings.KB_CAPTURE_RETRY_DELAYS)
    return float(delays[min(attempts_made - 1, len(delays) - 1)]) if delays else 0.0


def release_for_retry(snapshot: Snapshot, sentence: str) -> None:
    with transaction.atomic():
        if Snapshot.objects.filter(pk=snapshot.pk, status=Snapshot.Status.RUNNING).update(
            status=Snapshot.Status.PENDING, error=sentence, error_message=to_json(sentence)
        ):
            blobs_release(snapshot)


@dataclass(frozen=True)
class Planned:
    """The bytes a capture will store, in writing order (assets, the archive last), by digest."""

    bodies: list[tuple[str, bytes]]
    blobs: dict[str, tuple[int, str]]  # digest -> (size, content type)
    archive_sha: str


@dataclass(frozen=True)
class Stored:
    """What ``store_blobs`` wrote: the archive's digest, every blob's size and type, new bytes."""

    archive_sha: str
    blobs: dict[str, tuple[int, str]]
    new_bytes: int


def plan_blobs(captured: Capture) -> Planned:
    """The archive (page skeleton or document) and its assets, each named by its SHA-256."""
    if captured.document is not None:
        assets: list[tuple[bytes, str]] = []
        archive = (captured.document.body, captured.document.content_type)
    else:
        assets = [(a.body, a.content_type) for a in captured.archive.assets.values()]
        archive = (captured.archive.html.encode("utf-8"), captured.archive_type)
    if captured.screenshot is not None:
        assets.append((captured.screenshot.body, captured.screenshot.content_type))
    bodies: list[tuple[str, bytes]] = []
    blobs: dict[str, tuple[int, str]] = {}
    for body, content_type in [*assets, archive]:
        sha = sha256_of(body)
        bodies.append((sha, body))
        blobs[sha] = (len(body), content_type)
    return Planned(bodies=bodies, blobs=blobs, archive_sha=bodies[-1][0])


def store_blobs(store: BlobStore, planned: Planned) -> Stored:
    """Write the planned bytes (already referenced by the snapshot) that the store lacks.

    The archive goes last: it refers to the assets, so it is never stored without them.
    """
    new_bytes = 0
    for _sha, body in planned.bodies:
        _, written = store.put(body)
        new_bytes += len(body) if written else 0
    return Stored(archive_sha=planned.archive_sha, blobs=planned.blobs, new_bytes=new_bytes)


def save_success(snapshot: Snapshot, captured: Capture, stored: Stored) -> str:
    response = captured.response
    fields = {
        "status": Snapshot.Status.SUCCEEDED,
        "error": "",
        "error_message": {},
        "finished": timezone.now(),
        "final_url": response.final_url[:2048],
        "http_status": response.status,
        "content_type": captured.archive_type[:255],
        "archive_id": stored.archive_sha,
        "stored_bytes": stored.new_bytes,
        "icon_sha256": "",
        "image_sha256": "",
        "engine": captured.engine,
        # one of this snapshot's own blobs, like the icon: kept exactly as long as the snapshot
        "screenshot_sha256": sha256_of(captured.screenshot.body) if captured.screenshot else "",
    }
    if captured.document is not None:
        document = captured.document
        fields |= {
            "title": clean_text(document.title)[:1000],
            "text": clean_text(document.text),
            "encoding": document.encoding,
            "size": len(document.body),
        }
    else:
        article, archive = captured.article, captured.archive
        fields |= {
            "encoding": captured.decoded.encoding[:64],
            "size": len(single_file(archive).encode("utf-8")),
            "assets_inlined": archive.inlined,
            "assets_failed": archive.failed,
            "title": clean_text(article.title)[:1000],
            "description": clean_text(article.description),
            "author": clean_text(article.author)[:500],
            "site_name": clean_text(article.site_name)[:500],
            "language": (article.language or "")[:35],
            "published": _as_date(article.published),
            "published_is_guess": bool(article.published_is_guess),
            "image_url": (article.image or "")[:2048],
            "text": clean_text(article.text),
            "reader_html": article.reader_html or "",
            # one of this snapshot's own blobs, so it is kept exactly as long as the snapshot
            "icon_sha256": archive.icon if archive.icon in stored.blobs else "",
            "image_sha256": archive.lead_image if archive.lead_image in stored.blobs else "",
        }
    with transaction.atomic():
        # The blob rows and this snapshot's references to them were made before the bytes were
        # written (blobs_reference), so the archive this marks succeeded cannot have been collected.
        if not Snapshot.objects.filter(pk=snapshot.pk, status=Snapshot.Status.RUNNING).update(
            **fields
        ):
            # Deleted (or recovered by another worker) while we worked: keep nothing of ours.
            blobs_free_unused(shas=set(stored.blobs))
            return "skipped"
        description = fields.get("description", "")
        if description:
            Link.objects.filter(pk=snapshot.link_id, description="").update(description=description)
        page_title_refresh(snapshot.link_id)
    return Snapshot.Status.SUCCEEDED


def save_failure(snapshot: Snapshot, sentence: str, http_status: int | None = None) -> str:
    with transaction.atomic():
        failed = Snapshot.objects.filter(pk=snapshot.pk, status=Snapshot.Status.RUNNING).update(
            status=Snapshot.Status.FAILED,
            error=sentence,
            error_message=to_json(sentence),
            finished=timezone.now(),
            http_status=http_status,
        )
        if failed:  # what a failed attempt stored is not kept for it
            blobs_release(snapshot)
    return Snapshot.Status.FAILED


def reindex_link(link_id: int) -> None:
    """Put the captured text into the library's full-text search."""
    try:
        search.reindex_link(link_id)
    except Exception:  # a search failure must not undo a good capture; the next edit reindexes
        logger.exception("search index update failed for link %s", link_id)


def _as_date(value):
    if value is None or value == "":
        return None
    if hasattr(value, "year"):
        return value.date() if hasattr(value, "date") and callable(value.date) else value
    return parse_date(str(value)[:10])


# --- recovering lost jobs and dead workers -----------------------------------------------------


@dataclass(frozen=True)
class RecoveryResult:
    requeued: list[int]
    failed: list[int]


def job_alive(task_id: str) -> bool | None:
    """Does the queue still hold this capture job (waiting, scheduled or running)?

    False when it ended or the queue never heard of it (lost with a restarted Redis, or never
    queued); None when the backend cannot tell (immediate, dummy). Raises when the queue cannot
    be reached: nothing can be queued then either.
    """
    backend = capture_snapshot.get_backend()
    if not backend.supports_get_result:
        return None
    if not task_id:
        return False
    try:
        result = backend.get_result(task_id)
    except TaskResultDoesNotExist:
        return False
    return result.status in (TaskResultStatus.READY, TaskResultStatus.RUNNING)


def requeue_lost_captures(older_than: timedelta = LOST_AFTER) -> RecoveryResult:
    """Queue again the pending snapshots older than ``older_than`` whose job is not alive.

    Their enqueue failed (the broker was down) or the broker lost the job (Redis restarted
    without its data). Queued once: the next pass finds the new job alive. Two passes at once
    may both queue one snapshot; the task's claim makes the second run do nothing.
    """
    cutoff = timezone.now() - older_than
    pending = Snapshot.objects.filter(status=Snapshot.Status.PENDING, requested__lt=cutoff)
    requeued: list[int] = []
    for snapshot_id, task_id in pending.order_by("pk").values_list("pk", "task_id"):
        try:
            if job_alive(task_id):
                continue
        except Exception:  # the queue is unreachable: try the rest in the next pass
            logger.warning("the task queue cannot be asked about captures", exc_info=True)
            break
        taken = Snapshot.objects.filter(
            pk=snapshot_id, status=Snapshot.Status.PENDING, task_id=task_id
        ).update(task_id="")
        if taken and snapshot_enqueue(snapshot_id):
            requeued.append(snapshot_id)
    if requeued:
        logger.info("queued lost captures again: %s", requeued)
    return RecoveryResult(requeued=requeued, failed=[])


def recover_stuck_snapshots(older_than: timedelta = STUCK_AFTER) -> RecoveryResult:
    """Take up snapshots left ``running`` by a worker that died: queue them again, or fail them.

    Each row changes by a conditional UPDATE, so several workers recovering at once never queue
    the same snapshot twice.
    """
    now = timezone.now()
    cutoff = now - older_than
    stuck = Snapshot.objects.filter(status=Snapshot.Status.RUNNING).filter(
        Q(started__lt=cutoff)
        | Q(started__isnull=True, requested__lt=cutoff)
        # its worker stopped saying it is alive (capture_lease): no need to wait STUCK_AFTER
        | Q(alive_at__lt=now - LEASE_LOST, started__lt=now - LEASE_LOST)
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
            blobs_release(Snapshot(pk=snapshot_id))
            failed.append(snapshot_id)
    if requeued or failed:
        logger.info("recovered stuck captures: requeued %s, failed %s", requeued, failed)
    return RecoveryResult(requeued=requeued, failed=failed)


def recover_captures() -> RecoveryResult:
    """One recovery pass: captures left running by a dead worker, then pending ones whose job
    was lost. What the worker's watch runs, and ``manage.py recapture --stuck``."""
    stuck = recover_stuck_snapshots()
    lost = requeue_lost_captures()
    return RecoveryResult(requeued=stuck.requeued + lost.requeued, failed=stuck.failed)


_watch_started = False


def start_stuck_capture_watch(argv: list[str] | None = None) -> bool:
    """In a worker process, run ``recover_captures`` now and every ``WATCH_EVERY`` (a daemon thread).

    Called from ``SnapshotsConfig.ready``. The first pass runs in a thread because Django
    discourages queries while apps are still loading; later passes catch a snapshot whose worker
    died after this one started, and captures whose job the broker lost while it was down.
    """
    global _watch_started
    argv = sys.argv if argv is None else argv
    if _watch_started or len(argv) < 2 or argv[1] not in WORKER_COMMANDS:
        return False
    _watch_started = True
    threading.Thread(target=_watch_stuck_captures, name="kb-stuck-captures", daemon=True).start()
    return True


def _watch_stuck_captures() -> None:
    time.sleep(1.0)  # let the worker finish starting
    next_collection = time.monotonic()
    while True:
        try:
            recover_captures()
        except Exception:
            logger.exception("recovering stuck captures failed")
        try:
            if time.monotonic() >= next_collection:
                # Blobs are collected on commit after each deletion; this catches the ones a
                # process stopped before collecting (killed between the commit and the collection).
                next_collection = time.monotonic() + COLLECT_EVERY.total_seconds()
                blobs_collect()
        except Exception:
            logger.exception("collecting unused blobs failed")
        finally:
            connections.close_all()  # this thread's own connections; the worker keeps its own
        time.sleep(WATCH_EVERY.total_seconds())
