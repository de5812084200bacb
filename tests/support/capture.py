"""Settings and records for tests that really capture pages (or store archives) in the site."""

from snapshots.capture.errors import CaptureError
from snapshots.capture.fetch import Response
from snapshots.models import Blob, Link, Snapshot
from snapshots.services.archives import blob_store
from snapshots.tasks import run_capture, snapshot_request


def fake_web(files: dict[str, tuple[str, bytes]]):
    """A fetcher for the inliner that serves ``url -> (content type, body)``; others are 404."""

    def fetch(url: str) -> Response:
        if url not in files:
            raise CaptureError("the server answered 404 Not Found")
        content_type, body = files[url]
        return Response(url, url, 200, {}, content_type, None, body)

    return fetch


def capture_from(settings, server, tmp_path):
    """Let captures reach ``server`` on 127.0.0.1, fail fast, and store blobs under ``tmp_path``."""
    settings.KB_FETCH_ALLOW_HOSTS = [f"127.0.0.1:{server.port}"]
    settings.KB_CAPTURE_FETCH_OPTIONS = {"connect_timeout": 1.0, "read_timeout": 0.5}
    return store_blobs_under(settings, tmp_path)


def store_blobs_under(settings, tmp_path):
    """Captures retry at once and store their blobs under ``tmp_path``."""
    settings.KB_CAPTURE_RETRY_DELAYS = (0, 0)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "blobs")},
        },
    }
    return settings


def captured(user, url: str) -> Snapshot:
    """A link to ``url`` owned by ``user``, captured now (the capture's outcome is not checked)."""
    link = Link.objects.create(owner=user, url=url, normalized_url=url)
    snapshot = snapshot_request(link=link, enqueue=False)
    run_capture(snapshot.pk)
    snapshot.refresh_from_db()
    return snapshot


def stored_archive(user, raw: bytes, title: str) -> Snapshot:
    """A succeeded snapshot whose stored archive is exactly ``raw`` (as if a capture wrote it)."""
    sha, _ = blob_store().put(raw)
    Blob.objects.create(sha256=sha, size=len(raw), content_type="text/html;charset=utf-8")
    link = Link.objects.create(
        owner=user, url="https://example.org/h", normalized_url="https://example.org/h"
    )
    snapshot = Snapshot.objects.create(
        link=link,
        status=Snapshot.Status.SUCCEEDED,
        archive_id=sha,
        title=title,
        content_type="text/html;charset=utf-8",
    )
    snapshot.blobs.set([sha])
    return snapshot


def run_queued_tasks(worker_id: str = "browser-test") -> None:
    """What `manage.py db_worker --batch` does: run every queued task, then stop."""
    from django_tasks_db.management.commands.db_worker import Worker

    Worker(
        queue_names=["default"],
        interval=0.1,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    ).run()
