"""Who goes first in the capture queue: a capture a person asked for is taken before bulk work (an
import, a re-capture) queued earlier, on the database queue ``make run`` uses, and keeps its place
through retries and recovery. The rq queue: tests/kb/test_production_queue_order.py."""

import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from snapshots.models import Link, Snapshot
from snapshots.services.importer import import_bookmarks
from snapshots.services.links import link_create, links_bulk_edit
from snapshots.tasks import captures_ahead, recover_stuck_snapshots, requeue_lost_captures
from tests.support.capture import capture_from
from tests.support.servers import LocalHTTPServer

pytestmark = pytest.mark.django_db

IMPORTED = 40
ASKED, BULK = Snapshot.Priority.ASKED, Snapshot.Priority.BULK


@pytest.fixture
def server():
    with LocalHTTPServer() as server:
        yield server


@pytest.fixture(autouse=True)
def database_queue(settings, server, tmp_path):
    """The database queue, as ``make run`` has it; captures may reach the local server."""
    capture_from(settings, server, tmp_path)
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def page(server: LocalHTTPServer, path: str) -> str:
    title = path.strip("/")
    body = f"<html><head><title>{title}</title></head><body><p>{title}</p></body></html>"
    server.route(path, body=body.encode(), headers={"Content-Type": "text/html"})
    return server.url(path)


def bookmarks_file(urls: list[str]) -> bytes:
    rows = "\n".join(f'<DT><A HREF="{url}">Imported {n}</A>' for n, url in enumerate(urls))
    return f"<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n{rows}\n</DL><p>\n".encode()


def imported(server, user, on_commit) -> list[Snapshot]:
    """An import of IMPORTED links, its captures queued (in the order of the file)."""
    urls = [page(server, f"/imported-{n}") for n in range(IMPORTED)]
    with on_commit(execute=True):
        import_bookmarks(owner=user, data=bookmarks_file(urls))
    return list(Snapshot.objects.filter(link__owner=user).order_by("pk"))


def added_by_hand(user, url: str, on_commit) -> Snapshot:
    with on_commit(execute=True):
        link, _ = link_create(owner=user, url=url)
    return Link.objects.get(pk=link.pk).latest_snapshot


def run_one_task() -> None:
    """What a ``db_worker`` does with the next task it claims."""
    call_command("db_worker", "--batch", "--max-tasks", "1", "--no-startup-delay", verbosity=0)


def pending_ids() -> set[int]:
    return set(Snapshot.objects.filter(status=Snapshot.Status.PENDING).values_list("pk", flat=True))


# A worker closes its connections after a task: the test's own data must be committed.
@pytest.mark.django_db(transaction=True)
def test_a_link_added_by_hand_is_captured_before_the_rest_of_an_import(
    server, user, django_capture_on_commit_callbacks
):
    bulk = imported(server, user, django_capture_on_commit_callbacks)
    run_one_task()  # the worker is busy with the import already
    assert pending_ids() == {s.pk for s in bulk[1:]}

    mine = added_by_hand(user, page(server, "/by-hand"), django_capture_on_commit_callbacks)
    assert DBTaskResult.objects.filter(status="READY").count() == IMPORTED
    run_one_task()

    mine.refresh_from_db()
    assert (mine.status, mine.title) == (Snapshot.Status.SUCCEEDED, "by-hand")
    assert pending_ids() == {s.pk for s in bulk[1:]}  # all 39 left of the import still wait
    run_one_task()
    assert pending_ids() == {s.pk for s in bulk[2:]}  # then the import goes on in its order


def test_the_position_counts_people_first_then_who_asked_earlier(
    server, user, other_user, django_capture_on_commit_callbacks
):
    bulk = imported(server, user, django_capture_on_commit_callbacks)
    first = added_by_hand(user, "https://first.example/", django_capture_on_commit_callbacks)
    second = added_by_hand(
        other_user, "https://second.example/", django_capture_on_commit_callbacks
    )

    assert [captures_ahead(s) for s in (first, second)] == [0, 1]
    assert captures_ahead(bulk[0]) == 2
    assert captures_ahead(bulk[-1]) == 2 + IMPORTED - 1


def test_the_link_page_of_an_imported_link_counts_the_link_added_by_hand(
    client, server, user, django_capture_on_commit_callbacks
):
    bulk = imported(server, user, django_capture_on_commit_callbacks)
    mine = added_by_hand(user, "https://mine.example/", django_capture_on_commit_callbacks)
    client.force_login(user)
    page_of = lambda s: client.get(reverse("snapshots:link_detail", args=[s.link_id]))  # noqa: E731
    assert "Next in line." in page_of(mine).content.decode()
    assert "1 capture ahead of this one." in page_of(bulk[0]).content.decode()
    assert f"{IMPORTED} captures ahead of this one." in page_of(bulk[-1]).content.decode()


# A worker closes its connections after a task: the test's own data must be committed.
@pytest.mark.django_db(transaction=True)
def test_a_retry_keeps_its_place_ahead_of_the_import(
    server, user, settings, django_capture_on_commit_callbacks
):
    settings.KB_CAPTURE_RETRY_DELAYS = (0, 0)
    imported(server, user, django_capture_on_commit_callbacks)
    server.route("/busy", status=503, body=b"busy")
    mine = added_by_hand(user, server.url("/busy"), django_capture_on_commit_callbacks)

    run_one_task()  # the first attempt: 503, queued again
    mine.refresh_from_db()
    assert (mine.status, mine.attempts, mine.priority) == (Snapshot.Status.PENDING, 1, ASKED)
    retry = DBTaskResult.objects.get(status="READY", args_kwargs__args=[mine.pk])
    assert retry.priority == ASKED
    run_one_task()  # and the next task the worker takes is that retry, not the import
    mine.refresh_from_db()
    assert mine.attempts == 2


def test_recovered_captures_keep_their_priority(user):
    long_ago = timezone.now() - timedelta(hours=1)
    asked = Snapshot.objects.create(
        link=Link.objects.create(owner=user, url="https://a.example/", normalized_url="a"),
        status=Snapshot.Status.RUNNING,
        started=long_ago,
        attempts=1,
        priority=ASKED,
    )
    lost = Snapshot.objects.create(
        link=Link.objects.create(owner=user, url="https://b.example/", normalized_url="b"),
        requested=long_ago,
        priority=ASKED,
    )
    bulk = Snapshot.objects.create(
        link=Link.objects.create(owner=user, url="https://c.example/", normalized_url="c"),
        requested=long_ago,
    )

    assert recover_stuck_snapshots().requeued == [asked.pk]
    assert set(requeue_lost_captures().requeued) == {lost.pk, bulk.pk}

    priorities = {task.args_kwargs["args"][0]: task.priority for task in DBTaskResult.objects.all()}
    assert priorities == {asked.pk: ASKED, lost.pk: ASKED, bulk.pk: BULK}


def test_what_a_person_asks_for_is_interactive_and_bulk_work_is_not(
    client, server, user, api_token, django_capture_on_commit_callbacks
):
    bulk = imported(server, user, django_capture_on_commit_callbacks)
    api = {"HTTP_AUTHORIZATION": f"Bearer {api_token}"}
    client.force_login(user)

    added = client.post(
        "/api/links", {"url": "https://api.example/"}, content_type="application/json", **api
    ).json()
    again = client.post(f"/api/links/{added['id']}/capture", **api).json()
    client.post(reverse("snapshots:link_add"), {"url": "https://page.example/", "tags": ""})
    in_page = Link.objects.get(url="https://page.example/")
    client.post(reverse("snapshots:link_capture", args=[in_page.pk]))
    asked = set(Snapshot.objects.exclude(pk__in=[s.pk for s in bulk]).values_list("pk", flat=True))
    links_bulk_edit(owner=user, link_ids=[bulk[0].link_id], action="capture")
    bulk_edit = Link.objects.get(pk=bulk[0].link_id).latest_snapshot_id
    with open(os.devnull, "w") as quiet:
        call_command("recapture", "--all", "--user", user.username, stdout=quiet, stderr=quiet)
    recaptured = Snapshot.objects.exclude(pk__in=[*asked, bulk_edit, *(s.pk for s in bulk)])

    def priority(snapshot_id: int) -> int:
        return Snapshot.objects.get(pk=snapshot_id).priority

    assert priority(added["snapshots"][0]["id"]) == ASKED  # POST /api/links
    assert priority(again["id"]) == ASKED  # POST /api/links/{id}/capture
    assert in_page.snapshots.count() == 3  # added in the page, "Capture again", recaptured
    assert {priority(pk) for pk in asked} == {ASKED}  # those four
    assert {s.priority for s in bulk} == {BULK}  # the import
    assert priority(bulk_edit) == BULK  # the library's bulk "Capture again"
    assert recaptured.count() == IMPORTED + 2  # manage.py recapture --all
    assert set(recaptured.values_list("priority", flat=True)) == {BULK}
