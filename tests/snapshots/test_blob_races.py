"""A link deleted while another capture reuses its stored files: no succeeded snapshot loses its archive.

Two links to the same page share every image, stylesheet and font (stored once, by digest). The
first link is deleted at each point of the second one's capture where the old order lost bytes —
before the capture references its blobs, after it found the first of them already stored, after
it stored the archive — and, on PostgreSQL, from another thread at the same moment. Every round
ends with the second snapshot succeeded, its archive served, and ``scrub`` finding nothing broken.
"""

from __future__ import annotations

import threading
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from snapshots.capture.store import BlobStore, blob_name
from snapshots.models import Blob, Link, Snapshot
from snapshots.services import archives
from snapshots.services.archives import blobs_collect, snapshot_single_file, snapshots_scrub
from snapshots.services.links import link_delete
from snapshots.tasks import run_capture, snapshot_request
from tests.snapshots.test_capture_task import serve_site
from tests.support.capture import capture_from
from tests.support.servers import LocalHTTPServer

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 40
# Where the other link is deleted, round by round.
MOMENTS = (
    "before the blobs are referenced",
    "after the first blob was found stored",
    "after the archive was stored",
)


@pytest.fixture
def server():
    with LocalHTTPServer() as server:
        serve_site(server)
        yield server


@pytest.fixture(autouse=True)
def capture_settings(settings, server, tmp_path):
    return capture_from(settings, server, tmp_path)


def new_link(user, server, n: int) -> Link:
    url = server.url(f"/index.html?copy={n}")
    return Link.objects.create(owner=user, url=url, normalized_url=url)


def captured(link: Link) -> Snapshot:
    snapshot = snapshot_request(link=link, enqueue=False)
    run_capture(snapshot.pk)
    snapshot.refresh_from_db()
    return snapshot


def capture_deleting(link: Link, other: Link, moment: str, monkeypatch) -> Snapshot:
    """Capture ``link``, deleting ``other`` (and collecting its blobs) at ``moment``."""
    done = []

    def delete_other() -> None:
        if not done:
            done.append(True)
            link_delete(link=Link.objects.get(pk=other.pk))

    real_put, real_reference = BlobStore.put, archives.blobs_reference
    puts = []

    def put(store, body):
        result = real_put(store, body)
        puts.append(result)
        if moment == MOMENTS[1] and not result[1]:
            delete_other()
        return result

    def reference(snapshot, blobs):
        if moment == MOMENTS[0]:
            delete_other()
        return real_reference(snapshot, blobs)

    monkeypatch.setattr(BlobStore, "put", put)
    monkeypatch.setattr("snapshots.tasks.blobs_reference", reference)
    snapshot = snapshot_request(link=link, enqueue=False)
    run_capture(snapshot.pk)
    if moment == MOMENTS[2]:
        delete_other()
    monkeypatch.undo()
    assert done, f"the other link was never deleted {moment}"
    if moment != MOMENTS[0]:  # (before, the other link's blobs are simply gone and written again)
        assert any(not written for _, written in puts), "the capture reused nothing: no race"
    snapshot.refresh_from_db()
    return snapshot


def assert_whole(client, snapshot: Snapshot) -> None:
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    store = archives.blob_store()
    missing = [
        sha for sha in snapshot.blobs.values_list("sha256", flat=True) if not store.exists(sha)
    ]
    assert missing == []
    assert snapshot_single_file(snapshot)
    assert client.get(f"/archive/{snapshot.pk}/").status_code == 200


def test_forty_deletes_while_a_capture_reuses_the_blobs_lose_no_archive(
    user, server, client, monkeypatch, tmp_path
):
    client.force_login(user)
    previous = captured(new_link(user, server, 0))
    assert_whole(client, previous)
    for n in range(1, ROUNDS + 1):
        moment = MOMENTS[n % len(MOMENTS)]
        snapshot = capture_deleting(new_link(user, server, n), previous.link, moment, monkeypatch)
        assert not Link.objects.filter(pk=previous.link_id).exists()
        assert_whole(client, snapshot)
        previous = snapshot
    report = snapshots_scrub(verify=True)
    assert (report.snapshots, report.broken) == (1, [])
    # Nothing left behind either: every stored file is a blob the last snapshot uses.
    blobs_collect()
    used = set(previous.blobs.values_list("sha256", flat=True))
    assert set(Blob.objects.values_list("sha256", flat=True)) == used
    files = {path.name for path in (tmp_path / "blobs").rglob("*") if path.is_file()}
    assert files == used


def test_forty_deletes_racing_captures_from_another_thread_lose_no_archive(user, server, client):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite runs one writer at a time, so nothing interleaves")
    client.force_login(user)
    previous = captured(new_link(user, server, 0))
    for n in range(1, ROUNDS + 1):
        link = new_link(user, server, n)
        snapshot = snapshot_request(link=link, enqueue=False)
        errors = race(lambda: run_capture(snapshot.pk), lambda: link_delete(link=previous.link))  # noqa: B023 (joined before the next round)
        assert errors == []
        snapshot.refresh_from_db()
        assert_whole(client, snapshot)
        previous = snapshot
    assert snapshots_scrub(verify=True).broken == []


def race(*works) -> list[Exception]:
    """Run ``works`` in threads released at the same moment; the exceptions they raised."""
    start = threading.Barrier(len(works))
    errors: list[Exception] = []

    def run(work) -> None:
        try:
            start.wait()
            work()
        except Exception as error:  # noqa: BLE001 (reported by the caller's assertion)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_scrub_names_a_snapshot_whose_file_is_gone_and_requeues_its_link(user, server, tmp_path):
    snapshot = captured(new_link(user, server, 1))
    about = server.url("/about.html")
    whole = captured(Link.objects.create(owner=user, url=about, normalized_url=about))
    out = StringIO()
    call_command("scrub", stdout=out)
    assert "checked 2 snapshots" in out.getvalue()
    assert "0 broken" in out.getvalue()

    Path(tmp_path / "blobs" / blob_name(snapshot.archive_id)).write_bytes(b"")  # truncated
    unique = set(snapshot.blobs.values_list("sha256", flat=True)) - set(
        whole.blobs.values_list("sha256", flat=True)
    )
    assert snapshot.archive_id in unique
    out = StringIO()
    with pytest.raises(Exception, match="1 snapshots have stored files missing"):
        call_command("scrub", stdout=out)
    assert f"broken: snapshot {snapshot.pk} of {snapshot.link.url}" in out.getvalue()

    out = StringIO()
    call_command("scrub", "--requeue", stdout=out)
    assert "captures queued again: 1" in out.getvalue()
    link = Link.objects.get(pk=snapshot.link_id)
    assert link.latest_snapshot.status == Snapshot.Status.SUCCEEDED  # tests run the queue at once
    assert link.latest_snapshot_id != snapshot.pk
    assert snapshot_single_file(link.latest_snapshot)


def test_a_failed_capture_keeps_no_blobs(user, server, tmp_path, monkeypatch):
    def refuse(store, body):
        raise OSError("disk full")

    monkeypatch.setattr(BlobStore, "put", refuse)
    snapshot = captured(new_link(user, server, 1))
    assert snapshot.status == Snapshot.Status.FAILED
    assert not snapshot.blobs.exists()
    assert not Blob.objects.exists()
