"""The capture task end to end: the fixture site served on 127.0.0.1, real fetching, real storage.

Each test builds its own small server routes; the fixture site (tests/snapshots/fixtures/site) is
served file by file with its content types.
"""

import gzip
import hashlib
import mimetypes
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from snapshots.models import Blob, Link, Snapshot
from snapshots.queries import filter_links
from snapshots.services.archives import snapshot_delete, snapshot_single_file
from snapshots.tasks import (
    capture_snapshot,
    recover_stuck_snapshots,
    run_capture,
    snapshot_request,
    start_stuck_capture_watch,
)
from tests.support.archive_checks import network_references
from tests.support.capture import capture_from
from tests.support.servers import LocalHTTPServer

pytestmark = pytest.mark.django_db

SITE = Path(__file__).parent / "fixtures" / "site"
mimetypes.add_type("font/woff2", ".woff2")
mimetypes.add_type("font/woff", ".woff")
mimetypes.add_type("image/svg+xml", ".svg")


def serve_site(server: LocalHTTPServer, root: Path = SITE) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if kind.startswith("text/"):
                kind += "; charset=utf-8"
            server.route(
                "/" + path.relative_to(root).as_posix(),
                body=path.read_bytes(),
                headers={"Content-Type": kind},
            )


@pytest.fixture
def server():
    with LocalHTTPServer() as server:
        serve_site(server)
        yield server


@pytest.fixture(autouse=True)
def capture_settings(settings, server, tmp_path):
    return capture_from(settings, server, tmp_path)


@pytest.fixture
def link_to(user):
    def make(url: str, **fields) -> Link:
        return Link.objects.create(owner=user, url=url, normalized_url=url, **fields)

    return make


def capture(link: Link) -> Snapshot:
    snapshot = snapshot_request(link=link, enqueue=False)
    capture_snapshot.enqueue(snapshot.pk)  # the immediate backend of the tests runs it now
    snapshot.refresh_from_db()
    return snapshot


def stored_files(root: Path) -> set[str]:
    return {name for _, _, names in os.walk(root) for name in names}


# --- the fixture site -------------------------------------------------------------------------


def test_fixture_site_is_captured_with_every_resource_inlined(server, link_to):
    link = link_to(server.url("/index.html"))
    snapshot = capture(link)
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    assert snapshot.attempts == 1
    assert snapshot.http_status == 200
    assert snapshot.title == "Fixture Garden"
    assert snapshot.content_type == "text/html;charset=utf-8"
    assert snapshot.assets_inlined >= 15
    html = snapshot_single_file(snapshot).decode("utf-8")
    assert snapshot.size == len(html.encode("utf-8"))
    assert network_references(html) == []
    assert "<script" not in html
    assert "onerror" not in html
    assert 'http-equiv="refresh"' not in html
    assert '<meta charset="utf-8">' in html
    # nested @import (main.css → theme/base.css → extra.css), fonts, CSS backgrounds, srcset
    for fixture in (
        "fonts/kbsans.woff2",
        "img/bg.png",
        "img/dot.gif",
        "img/photo-800.png",
        "img/banner.png",
    ):
        body = (SITE / fixture).read_bytes()
        assert Blob.objects.filter(sha256=hashlib.sha256(body).hexdigest()).exists(), fixture
    link.refresh_from_db()
    assert link.latest_snapshot_id == snapshot.pk
    assert link.description == "A small site that exercises every kind of resource kb inlines."
    assert link.title == ""  # the user's title stays the user's; display_title falls back
    assert link.display_title == "Fixture Garden"


def test_the_users_description_is_kept(server, link_to):
    link = link_to(server.url("/index.html"), description="mine")
    capture(link)
    link.refresh_from_db()
    assert link.description == "mine"


def test_redirects_are_followed_and_the_final_url_kept(server, link_to):
    server.redirect("/old", "/moved", status=301)
    server.redirect("/moved", "/about.html", status=302)
    snapshot = capture(link_to(server.url("/old")))
    assert snapshot.status == Snapshot.Status.SUCCEEDED
    assert snapshot.final_url == server.url("/about.html")


def test_gbk_page_without_charset_header_is_stored_as_utf8(server, link_to):
    text = "城市雨水花园的建设经验：下沉式绿地可以在暴雨时蓄积雨水，减轻排水管网的压力。" * 4
    page = f"<html><head><title>雨水花园</title></head><body><article><h1>雨水花园</h1><p>{text}</p><p>{text}</p></article></body></html>"
    server.route("/gbk.html", body=page.encode("gbk"), headers={"Content-Type": "text/html"})
    snapshot = capture(link_to(server.url("/gbk.html")))
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    assert snapshot.encoding == "gb18030"
    assert snapshot.title == "雨水花园"
    assert "下沉式绿地" in snapshot.text
    archive = snapshot_single_file(snapshot).decode("utf-8")
    assert "下沉式绿地" in archive
    assert '<meta charset="utf-8">' in archive


def test_captured_text_is_found_by_the_library_search(server, link_to):
    server.route(
        "/rain.html",
        body=b"<html><head><title>Rain</title></head><body><p>Bioswales slow the stormwater.</p></body></html>",
        headers={"Content-Type": "text/html"},
    )
    link = link_to(server.url("/rain.html"))
    assert not filter_links(Link.objects.all(), "bioswales").exists()
    capture(link)
    assert list(filter_links(Link.objects.all(), "bioswales")) == [link]


def test_shift_jis_page_decodes_without_mojibake(server, link_to):
    text = "日本語のページです。文字化けせずに読めることを確かめます。" * 5
    page = f"<html><head><title>日本語</title></head><body><article><p>{text}</p><p>{text}</p></article></body></html>"
    server.route("/sjis.html", body=page.encode("shift_jis"), headers={"Content-Type": "text/html"})
    snapshot = capture(link_to(server.url("/sjis.html")))
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    assert snapshot.encoding in ("cp932", "shift_jis")
    assert "文字化けせずに読める" in snapshot.text
    assert "文字化けせずに読める" in snapshot_single_file(snapshot).decode("utf-8")


def test_a_page_with_code_blocks_keeps_its_main_text(server, link_to):
    paragraphs = "".join(
        f"<p>Paragraph {i} explains how the archive keeps the text of a page about code.</p>"
        for i in range(8)
    )
    page = (
        "<html><head><title>Code</title></head><body><article><h1>Code</h1>"
        f"{paragraphs}<pre>def f():\n    return 1</pre><p>After the <code>f</code> block.</p>"
        "</article></body></html>"
    )
    server.route("/code.html", body=page.encode(), headers={"Content-Type": "text/html"})
    snapshot = capture(link_to(server.url("/code.html")))
    assert "Paragraph 7 explains" in snapshot.text
    assert "return 1" in snapshot.text
    assert "<pre>" in snapshot.reader_html


# --- documents kept as they came ----------------------------------------------------------------


def test_pdf_is_stored_as_it_came(server, link_to):
    pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF\n"
    server.route("/paper.pdf", body=pdf, headers={"Content-Type": "application/pdf"})
    snapshot = capture(link_to(server.url("/paper.pdf")))
    assert snapshot.status == Snapshot.Status.SUCCEEDED
    assert snapshot.content_type == "application/pdf"
    assert snapshot.title == "paper.pdf"
    assert snapshot_single_file(snapshot) == pdf


def test_plain_text_becomes_the_snapshot_text(server, link_to):
    server.route(
        "/notes.txt",
        body="Plain notes — ünïcode.".encode(),
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    snapshot = capture(link_to(server.url("/notes.txt")))
    assert snapshot.status == Snapshot.Status.SUCCEEDED
    assert snapshot.content_type.startswith("text/plain")
    assert snapshot.text == "Plain notes — ünïcode."


# --- failures and retries -----------------------------------------------------------------------


def test_404_fails_at_once_without_retry(server, link_to):
    snapshot = capture(link_to(server.url("/nowhere")))
    assert snapshot.status == Snapshot.Status.FAILED
    assert snapshot.error == "the server answered 404 Not Found"
    assert snapshot.http_status == 404
    assert snapshot.attempts == 1
    assert server.request_count == 1


def test_slow_server_is_retried_then_failed_with_a_sentence(server, link_to):
    server.route("/slow", delay=3.0, body=b"late")
    snapshot = capture(link_to(server.url("/slow")))
    assert snapshot.status == Snapshot.Status.FAILED
    assert snapshot.error == "the server did not answer within 0.5 seconds"
    assert snapshot.attempts == 3
    assert server.request_count == 3


def test_a_5xx_that_recovers_succeeds_on_the_next_attempt(server, link_to):
    answers = iter([503, 200])

    def flaky(handler, owner):
        status = next(answers)
        body = b"<html><head><title>Back</title></head><body><p>fine now</p></body></html>"
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    server.route("/flaky", handler=flaky)
    snapshot = capture(link_to(server.url("/flaky")))
    assert snapshot.status == Snapshot.Status.SUCCEEDED
    assert snapshot.attempts == 2
    assert snapshot.error == ""


def test_a_backend_that_can_defer_gets_the_retry_as_a_later_task(
    server, link_to, settings, monkeypatch
):
    queued = []
    monkeypatch.setattr(
        "snapshots.tasks.snapshot_enqueue",
        lambda snapshot_id, delay=None: queued.append((snapshot_id, delay)),
    )
    settings.KB_CAPTURE_RETRY_DELAYS = (30, 120)
    server.route("/down", status=502, body=b"bad gateway")
    snapshot = snapshot_request(link=link_to(server.url("/down")), enqueue=False)
    assert run_capture(snapshot.pk, wait_for_retries=False) == Snapshot.Status.PENDING
    snapshot.refresh_from_db()
    assert snapshot.status == Snapshot.Status.PENDING
    assert snapshot.error == "the server answered 502 Bad Gateway"
    assert queued == [(snapshot.pk, timedelta(seconds=30))]
    assert run_capture(snapshot.pk, wait_for_retries=False) == Snapshot.Status.PENDING
    assert queued[-1] == (snapshot.pk, timedelta(seconds=120))
    assert run_capture(snapshot.pk, wait_for_retries=False) == Snapshot.Status.FAILED
    assert server.request_count == 3


def test_endless_body_stops_at_the_size_cap(server, link_to, settings):
    settings.KB_CAPTURE_FETCH_OPTIONS = {"read_timeout": 2.0, "max_bytes": 1024 * 1024}

    def endless():
        while True:
            yield b"<p>more</p>" * 1000

    server.route("/endless", body=endless, headers={"Content-Type": "text/html"})
    snapshot = capture(link_to(server.url("/endless")))
    assert snapshot.status == Snapshot.Status.FAILED
    assert snapshot.error == "the page is larger than 1 MB"
    assert snapshot.attempts == 1


def test_gzip_bomb_stops_at_the_size_cap(server, link_to):
    bomb = gzip.compress(b"<p>" + b"0" * (30 * 1024 * 1024), compresslevel=9)
    server.route(
        "/bomb", body=bomb, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"}
    )
    snapshot = capture(link_to(server.url("/bomb")))
    assert len(bomb) < 100_000
    assert snapshot.status == Snapshot.Status.FAILED
    assert snapshot.error == "the page is larger than 10 MB"


def test_refused_address_fails_with_its_sentence_and_no_retry(link_to, settings):
    settings.KB_FETCH_ALLOW_HOSTS = []
    snapshot = capture(link_to("http://169.254.169.254/latest/meta-data/"))
    assert snapshot.status == Snapshot.Status.FAILED
    assert snapshot.error == "refused: 169.254.169.254 is a link-local address"
    assert snapshot.attempts == 1


def test_an_image_on_a_refused_address_is_skipped_and_counted(server, link_to):
    page = b'<html><body><p>hi</p><img src="http://10.0.0.5/x.png"></body></html>'
    server.route("/p.html", body=page, headers={"Content-Type": "text/html"})
    snapshot = capture(link_to(server.url("/p.html")))
    assert snapshot.status == Snapshot.Status.SUCCEEDED
    assert snapshot.assets_failed == 1
    assert "10.0.0.5" not in snapshot_single_file(snapshot).decode()


# --- idempotency and recovery -------------------------------------------------------------------


def test_running_the_task_twice_captures_once(server, link_to):
    snapshot = capture(link_to(server.url("/about.html")))
    requests_made = server.request_count
    assert capture_snapshot.enqueue(snapshot.pk).return_value == "skipped"
    snapshot.refresh_from_db()
    assert snapshot.status == Snapshot.Status.SUCCEEDED
    assert snapshot.attempts == 1
    assert server.request_count == requests_made


def test_a_snapshot_running_elsewhere_is_left_alone(server, link_to):
    snapshot = snapshot_request(link=link_to(server.url("/about.html")), enqueue=False)
    Snapshot.objects.filter(pk=snapshot.pk).update(
        status=Snapshot.Status.RUNNING, started=timezone.now()
    )
    assert run_capture(snapshot.pk) == "skipped"
    assert server.request_count == 0


def test_a_snapshot_stuck_running_is_taken_up_again(server, link_to):
    snapshot = snapshot_request(link=link_to(server.url("/about.html")), enqueue=False)
    long_ago = timezone.now() - timedelta(hours=1)
    Snapshot.objects.filter(pk=snapshot.pk).update(
        status=Snapshot.Status.RUNNING, started=long_ago, attempts=1
    )
    result = recover_stuck_snapshots()
    assert result.requeued == [snapshot.pk]
    snapshot.refresh_from_db()
    assert snapshot.status == Snapshot.Status.SUCCEEDED  # the immediate backend ran it again
    assert snapshot.attempts == 2


def test_a_snapshot_stuck_after_its_last_attempt_fails_with_a_reason(link_to):
    snapshot = snapshot_request(link=link_to("https://example.org/"), enqueue=False)
    long_ago = timezone.now() - timedelta(hours=1)
    Snapshot.objects.filter(pk=snapshot.pk).update(
        status=Snapshot.Status.RUNNING, started=long_ago, attempts=3
    )
    recent = snapshot_request(link=link_to("https://example.org/2"), enqueue=False)
    Snapshot.objects.filter(pk=recent.pk).update(
        status=Snapshot.Status.RUNNING, started=timezone.now()
    )
    result = recover_stuck_snapshots()
    assert result.failed == [snapshot.pk]
    assert result.requeued == []
    snapshot.refresh_from_db()
    assert snapshot.status == Snapshot.Status.FAILED
    assert "interrupted" in snapshot.error
    assert Snapshot.objects.get(pk=recent.pk).status == Snapshot.Status.RUNNING


def test_a_capture_whose_worker_went_silent_is_taken_up_within_a_minute(server, link_to):
    """A worker keeps a lease on what it runs; one killed stops renewing it (no 5-minute wait)."""
    silent, alive, unleased = (
        snapshot_request(link=link_to(server.url(f"/about.html?{n}")), enqueue=False)
        for n in range(3)
    )
    now = timezone.now()
    running = {
        "status": Snapshot.Status.RUNNING,
        "started": now - timedelta(minutes=1),
        "attempts": 1,
    }
    Snapshot.objects.filter(pk=silent.pk).update(**running, alive_at=now - timedelta(seconds=50))
    Snapshot.objects.filter(pk=alive.pk).update(**running, alive_at=now - timedelta(seconds=5))
    Snapshot.objects.filter(pk=unleased.pk).update(**running, alive_at=None)  # a command's own
    assert recover_stuck_snapshots().requeued == [silent.pk]
    assert Snapshot.objects.get(pk=silent.pk).status == Snapshot.Status.SUCCEEDED
    assert Snapshot.objects.get(pk=alive.pk).status == Snapshot.Status.RUNNING
    assert Snapshot.objects.get(pk=unleased.pk).status == Snapshot.Status.RUNNING


@pytest.mark.django_db(transaction=True)
def test_a_worker_renews_the_lease_of_the_capture_it_runs(server, link_to, monkeypatch, settings):
    settings.KB_CAPTURE_FETCH_OPTIONS = {"read_timeout": 5.0}
    monkeypatch.setattr("snapshots.tasks._watch_started", True)  # as in a worker process
    monkeypatch.setattr("snapshots.tasks.LEASE_BEAT", timedelta(seconds=0.2))
    renewals = []
    real_update = Snapshot.objects.filter(pk=0).update.__func__

    def seen(queryset, **fields):
        if set(fields) == {"alive_at"}:
            renewals.append(fields["alive_at"])
        return real_update(queryset, **fields)

    monkeypatch.setattr(type(Snapshot.objects.all()), "update", seen)
    server.route("/slow", body=b"<title>Slow</title><p>late</p>", delay=1.0)
    snapshot = snapshot_request(link=link_to(server.url("/slow")), enqueue=False)
    assert run_capture(snapshot.pk) == Snapshot.Status.SUCCEEDED
    assert len(renewals) >= 2


# --- storage --------------------------------------------------------------------------------------


def test_a_second_capture_of_an_unchanged_site_stores_under_ten_percent_new(server, link_to):
    link = link_to(server.url("/index.html"))
    first = capture(link)
    second = capture(link)
    assert first.stored_bytes > 0
    assert second.status == Snapshot.Status.SUCCEEDED
    assert second.stored_bytes < first.stored_bytes * 0.10
    assert set(second.blobs.values_list("sha256", flat=True)) == set(
        first.blobs.values_list("sha256", flat=True)
    )


def test_deleting_a_snapshot_frees_only_blobs_nothing_else_uses(
    server, link_to, tmp_path, django_capture_on_commit_callbacks
):
    root = tmp_path / "blobs"
    index, about = link_to(server.url("/index.html")), link_to(server.url("/about.html"))
    first, second, other = capture(index), capture(index), capture(about)
    before = stored_files(root)
    with django_capture_on_commit_callbacks(execute=True):
        assert snapshot_delete(snapshot=first) == set()  # everything is shared with the second
    assert stored_files(root) == before
    index.refresh_from_db()
    assert index.latest_snapshot_id == second.pk
    shared = set(other.blobs.values_list("sha256", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        freed = snapshot_delete(snapshot=second)
    assert freed
    assert not freed & shared
    assert stored_files(root) == before - freed
    assert not Blob.objects.filter(sha256__in=freed).exists()
    assert snapshot_single_file(Snapshot.objects.get(pk=other.pk))  # still whole


def test_stuck_captures_are_watched_in_worker_processes_only(monkeypatch):
    started = []

    class FakeThread:
        def __init__(self, target, name, daemon):
            started.append(name)

        def start(self):
            pass

    monkeypatch.setattr("snapshots.tasks.threading.Thread", FakeThread)
    monkeypatch.setattr("snapshots.tasks._watch_started", False)
    assert not start_stuck_capture_watch(["manage.py", "runserver"])
    assert start_stuck_capture_watch(["manage.py", "db_worker"])
    assert not start_stuck_capture_watch(["manage.py", "db_worker"])  # once per process
    assert started == ["kb-stuck-captures"]


def test_a_storage_failure_fails_the_capture_with_a_sentence(server, link_to, monkeypatch):
    def broken_put(self, body):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("snapshots.capture.store.BlobStore.put", broken_put)
    snapshot = capture(link_to(server.url("/about.html")))
    assert snapshot.status == Snapshot.Status.FAILED
    assert snapshot.error == "the page was fetched but could not be stored; it has been logged"
    assert snapshot.archive_id is None


def test_a_recapture_that_fails_leaves_the_page_title_people_know(server, link_to, client, user):
    link = link_to(server.url("/gone.html"))
    server.route(
        "/gone.html",
        body=b"<title>A page that will go</title><p>Here for now.</p>",
        headers={"Content-Type": "text/html; charset=utf-8"},
    )
    assert capture(link).status == Snapshot.Status.SUCCEEDED
    server.route("/gone.html", status=404, body=b"gone")
    assert capture(link).status == Snapshot.Status.FAILED
    link.refresh_from_db()
    assert link.latest_snapshot.status == Snapshot.Status.FAILED
    assert link.display_title == "A page that will go"
    client.force_login(user)
    assert "A page that will go" in client.get("/links/").content.decode()
    answer = client.get(f"/api/links/{link.pk}").json()
    assert (answer["title"], answer["user_title"]) == ("A page that will go", "")
