"""`manage.py capture` and `manage.py recapture` against a local server."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from snapshots.models import Link, Snapshot
from tests.support.servers import LocalHTTPServer

pytestmark = pytest.mark.django_db

PAGE = b"<html><head><title>%s</title></head><body><p>Some words to keep.</p></body></html>"


@pytest.fixture
def server(settings, tmp_path):
    with LocalHTTPServer() as server:
        for name in ("one", "two"):
            server.route(
                f"/{name}", body=PAGE % name.encode(), headers={"Content-Type": "text/html"}
            )
        settings.KB_FETCH_ALLOW_HOSTS = [f"127.0.0.1:{server.port}"]
        settings.KB_CAPTURE_RETRY_DELAYS = (0, 0)
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(tmp_path / "blobs")},
            },
        }
        yield server


@pytest.fixture
def admin(django_user_model):
    return django_user_model.objects.create_superuser("root", password="correct horse 44")


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_capture_saves_and_captures_each_url_for_the_first_administrator(server, admin, user):
    out, _ = run("capture", server.url("/one"), server.url("/two"))
    assert f"captured {server.url('/one')} — one" in out
    assert f"captured {server.url('/two')} — two" in out
    links = Link.objects.filter(owner=admin)
    assert links.count() == 2
    assert all(link.latest_snapshot.status == Snapshot.Status.SUCCEEDED for link in links)
    assert all(link.private for link in links)
    assert not Link.objects.filter(owner=user).exists()


def test_capture_for_another_user_with_tags(server, admin, user):
    run("capture", server.url("/one"), "--user", user.username, "--tag", "reading")
    link = Link.objects.get(owner=user)
    assert list(link.tags.names()) == ["reading"]


def test_capture_again_adds_a_snapshot_to_the_history(server, admin):
    run("capture", server.url("/one"))
    run("capture", server.url("/one"))
    link = Link.objects.get()
    assert link.snapshots.count() == 2


def test_capture_reports_failures_and_invalid_addresses(server, admin):
    with pytest.raises(CommandError, match="1 captured, 1 failed, 1 not valid"):
        run("capture", server.url("/one"), server.url("/missing"), "ftp://example.org/x")


def test_capture_prints_the_failure_sentence(server, admin):
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("capture", server.url("/missing"), stdout=out, stderr=StringIO())
    assert f"failed {server.url('/missing')}: the server answered 404 Not Found" in out.getvalue()


def test_capture_needs_a_user_when_there_is_no_administrator(server, user, other_user):
    with pytest.raises(CommandError, match="--user"):
        run("capture", server.url("/one"))


def test_recapture_failed_links_now(server, admin):
    with pytest.raises(CommandError):
        run("capture", server.url("/one"), server.url("/missing"))
    server.route("/missing", body=PAGE % b"found", headers={"Content-Type": "text/html"})
    out, _ = run("recapture", "--failed", "--now")
    assert "1 captured, 0 failed." in out
    assert all(
        link.latest_snapshot.status == Snapshot.Status.SUCCEEDED for link in Link.objects.all()
    )
    assert Link.objects.get(url=server.url("/one")).snapshots.count() == 1


def test_recapture_by_tag_queues_captures(server, admin, django_capture_on_commit_callbacks):
    run("capture", server.url("/one"), "--tag", "keep")
    run("capture", server.url("/two"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        out, _ = run("recapture", "--tag", "keep")
    assert "1 captures queued." in out
    assert len(callbacks) == 1  # enqueued once the transaction commits
    assert (
        Link.objects.get(url=server.url("/one")).latest_snapshot.status == Snapshot.Status.PENDING
    )


def test_recapture_older_than_days(server, admin):
    run("capture", server.url("/one"), server.url("/two"))
    old = Link.objects.get(url=server.url("/one"))
    Snapshot.objects.filter(link=old).update(finished=timezone.now() - timedelta(days=40))
    out, _ = run("recapture", "--older-than", "30", "--now")
    assert "1 captured" in out
    assert old.snapshots.count() == 2


def test_recapture_stuck_takes_up_interrupted_captures(server, admin):
    run("capture", server.url("/one"))
    link = Link.objects.get()
    stuck = Snapshot.objects.create(
        link=link,
        status=Snapshot.Status.RUNNING,
        attempts=1,
        started=timezone.now() - timedelta(hours=2),
    )
    out, _ = run("recapture", "--stuck")
    assert "1 queued again, 0 given up" in out
    stuck.refresh_from_db()
    assert stuck.status == Snapshot.Status.SUCCEEDED


def test_recapture_without_a_choice_says_how_to_choose(admin):
    with pytest.raises(CommandError, match="--tag, --failed"):
        run("recapture")
