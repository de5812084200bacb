"""manage.py import_bookmarks / export_bookmarks / search_reindex."""

import io
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from snapshots.models import Link
from snapshots.services.links import link_create

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures" / "bookmarks"


@pytest.fixture(autouse=True)
def captures_queued_not_run(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def test_import_command_reports_counts(user):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_bookmarks", str(FIXTURES / "linkding.html"), stdout=out, stderr=err)
    assert "Imported 2 new links for ada; 1 were already saved, 0 skipped." in out.getvalue()
    assert Link.objects.filter(owner=user).count() == 2


def test_import_command_says_why_a_file_is_refused(user, tmp_path):
    with pytest.raises(CommandError, match=r"cut short\. Nothing was imported\."):
        call_command("import_bookmarks", str(FIXTURES / "truncated.html"), stderr=io.StringIO())
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_bookmarks", str(tmp_path / "missing.html"))
    assert not Link.objects.exists()


def test_commands_need_a_user_when_there_are_several(user, other_user):
    with pytest.raises(CommandError, match="There are 2 accounts: name one with --user"):
        call_command("import_bookmarks", str(FIXTURES / "linkding.html"))
    with pytest.raises(CommandError, match="no account named 'nobody'"):
        call_command("export_bookmarks", "--user", "nobody")
    call_command(
        "import_bookmarks", str(FIXTURES / "pocket.html"), "--user", "grace", stdout=io.StringIO()
    )
    assert Link.objects.filter(owner=other_user).count() == 3


def test_export_command_writes_the_file_and_the_zip(user, tmp_path):
    link_create(owner=user, url="https://example.com/", title="Saved", tags=["x"])
    out = io.StringIO()
    call_command("export_bookmarks", stdout=out, stderr=io.StringIO())
    assert 'TAGS="x">Saved</A>' in out.getvalue()
    target = tmp_path / "bookmarks.html"
    archive = tmp_path / "export.zip"
    call_command(
        "export_bookmarks",
        "--output",
        str(target),
        "--with-archives",
        str(archive),
        stderr=io.StringIO(),
    )
    assert "Saved" in target.read_text()
    with zipfile.ZipFile(archive) as opened:
        # The library bundle: restore (or the import page) reads kb.json back; no capture ran,
        # so there is no stored blob or archived page yet.
        assert opened.namelist() == ["bookmarks.html", "kb.json"]


def test_search_reindex_command(user):
    link_create(owner=user, url="https://example.com/", title="Saved")
    out = io.StringIO()
    call_command("search_reindex", stdout=out, stderr=io.StringIO())
    assert "Indexed 1 links." in out.getvalue()
