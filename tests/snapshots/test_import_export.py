"""Netscape bookmark files in and out: browsers, linkding, Pocket, Karakeep; all or nothing."""

import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from snapshots.models import Blob, Link, Snapshot
from snapshots.queries import LibraryFilters, library_links
from snapshots.services.bundle import export_archive_zip
from snapshots.services.exporter import export_bookmarks
from snapshots.services.importer import import_bookmarks, parse_bookmarks
from snapshots.services.links import LinkError, link_create

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures" / "bookmarks"


@pytest.fixture(autouse=True)
def captures_queued_not_run(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def tags_by_url(user) -> dict[str, list[str]]:
    return {
        link.url: sorted(link.tags.names(), key=str.casefold)
        for link in Link.objects.filter(owner=user).prefetch_related("tags")
    }


def test_firefox_export_keeps_tags_folders_dates_and_notes(user):
    result = import_bookmarks(owner=user, data=fixture("firefox.html"))
    assert (result.created, result.existing, result.skipped) == (4, 0, 2)
    assert any("javascript:" in error for error in result.errors)
    assert any("place:" in error for error in result.errors)
    tags = tags_by_url(user)
    assert tags == {
        "https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html": [],
        "https://en.wikipedia.org/wiki/Kullback%E2%80%93Leibler_divergence": [
            "kl",
            "Machine-Learning",
            "statistics",
        ],
        "https://zh.wikipedia.org/wiki/%E7%86%B5_(%E4%BF%A1%E6%81%AF%E8%AE%BA)": [
            "Machine-Learning",
            "信息论",
        ],
        "https://example.com/recipe": [],
    }
    kl = Link.objects.get(url__contains="Kullback")
    assert kl.title == "Kullback–Leibler divergence"
    assert kl.notes == "Relative entropy; not symmetric."
    assert kl.created == datetime.fromtimestamp(1700000400, tz=UTC)
    assert kl.private is True
    assert kl.unread is False
    assert Link.objects.get(domain="pytorch.org").title == "CrossEntropyLoss — PyTorch"


def test_import_queues_a_capture_per_new_link_and_runs_none(user):
    import_bookmarks(owner=user, data=fixture("linkding.html"))
    links = list(Link.objects.filter(owner=user).select_related("latest_snapshot"))
    assert len(links) == 2
    assert all(link.latest_snapshot.status == Snapshot.Status.PENDING for link in links)
    assert Snapshot.objects.count() == 2


def test_linkding_export_keeps_private_to_read_and_multiline_notes(user):
    result = import_bookmarks(owner=user, data=fixture("linkding.html"))
    # The third entry is the first one with a tracking parameter: one link, tags merged.
    assert (result.created, result.existing, result.skipped) == (2, 1, 0)
    docs = Link.objects.get(domain="docs.djangoproject.com")
    assert docs.private is False
    assert docs.unread is True
    assert sorted(docs.tags.names()) == ["django", "python", "reference"]
    assert docs.notes == (
        "The reference I open every day.\n"
        "Second line of notes, with <angle brackets> & an ampersand."
    )
    linkding = Link.objects.get(domain="github.com")
    assert (linkding.private, linkding.unread) == (True, False)


def test_pocket_export_reads_its_lists_and_sections(user):
    result = import_bookmarks(owner=user, data=fixture("pocket.html"), private_default=False)
    assert result.created == 3
    recipe = Link.objects.get(domain="karpathy.github.io")
    assert recipe.unread is False
    assert sorted(recipe.tags.names()) == ["ml", "training"]
    assert recipe.private is False
    gp = Link.objects.get(domain="distill.pub")
    assert gp.unread is True
    assert gp.created == datetime.fromtimestamp(1600000000, tz=UTC)


def test_karakeep_export_with_millisecond_dates(user):
    import_bookmarks(owner=user, data=fixture("karakeep.html"))
    paper = Link.objects.get(domain="arxiv.org")
    assert paper.created == datetime.fromtimestamp(1720000000, tz=UTC)
    assert sorted(paper.tags.names()) == ["Attention-Is-All", "papers", "transformers"]
    # A title that is only the URL is left empty, so the captured title shows instead.
    assert Link.objects.get(domain="karakeep.app").title == ""


def test_imported_links_are_searchable_at_once(user):
    import_bookmarks(owner=user, data=fixture("firefox.html"))
    found = library_links(user, LibraryFilters(q="信息论"))
    assert [link.domain for link in found] == ["zh.wikipedia.org"]


def test_reimporting_counts_existing_and_adds_their_new_tags(user):
    link_create(owner=user, url="https://docs.djangoproject.com/en/5.2/", tags=["mine"])
    result = import_bookmarks(owner=user, data=fixture("linkding.html"))
    assert (result.created, result.existing) == (1, 2)
    docs = Link.objects.get(domain="docs.djangoproject.com")
    assert sorted(docs.tags.names()) == ["django", "mine", "python", "reference"]
    assert Snapshot.objects.filter(link=docs).count() == 1  # no capture for an existing link
    again = import_bookmarks(owner=user, data=fixture("linkding.html"))
    assert (again.created, again.existing) == (0, 3)


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        (b"", "The file is empty."),
        (b'{"bookmarks": []}', "This is not a bookmarks file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8 text"),
        (FIXTURES.joinpath("truncated.html").read_bytes(), "cut short"),
        (b"<DL><p><DT><A HREF='https://a.example/'>a</A></DL></DL>", "never opened"),
    ],
)
def test_a_malformed_file_imports_nothing_and_says_why(user, data, sentence):
    with pytest.raises(LinkError) as raised:
        import_bookmarks(owner=user, data=data)
    assert sentence in raised.value.message
    assert not Link.objects.exists()
    assert not Snapshot.objects.exists()


def test_a_failure_midway_rolls_everything_back(user, monkeypatch):
    from snapshots import search

    def broken(ids):
        raise RuntimeError("disk full")

    monkeypatch.setattr(search, "reindex_links", broken)
    with pytest.raises(RuntimeError):
        import_bookmarks(owner=user, data=fixture("firefox.html"))
    assert not Link.objects.exists()


def test_export_then_import_round_trips(user, other_user):
    one, _ = link_create(
        owner=user,
        url="https://example.com/a",
        title='Quotes " & <tags>',
        tags=["ml", "交叉熵"],
        notes="Line one\nLine <two> & three",
        private=False,
    )
    two, _ = link_create(owner=user, url="https://example.com/b", tags=["x"])
    Link.objects.filter(pk=two.pk).update(unread=False)
    html = export_bookmarks(links=Link.objects.filter(owner=user))
    assert html.startswith("<!DOCTYPE NETSCAPE-Bookmark-file-1>")
    assert 'TAGS="ml,交叉熵"' in html

    result = import_bookmarks(owner=other_user, data=html.encode())
    assert result.created == 2
    copy = Link.objects.get(owner=other_user, url="https://example.com/a")
    assert copy.title == one.title
    assert copy.notes == one.notes
    assert sorted(copy.tags.names()) == ["ml", "交叉熵"]
    assert copy.private is False
    assert int(copy.created.timestamp()) == int(one.created.timestamp())
    other = Link.objects.get(owner=other_user, url="https://example.com/b")
    assert (other.private, other.unread) == (True, False)


def test_parse_reads_entries_in_file_order():
    entries = parse_bookmarks(fixture("firefox.html"))
    assert [entry.title for entry in entries][:2] == ["CrossEntropyLoss — PyTorch", "A bookmarklet"]


def test_archive_zip_holds_bookmarks_and_single_file_pages(user):
    captured, _ = link_create(owner=user, url="https://example.com/page", title="A page")
    link_create(owner=user, url="https://example.com/never", title="Never captured")
    page = b"<!doctype html><title>A page</title><p>Archived text</p>"
    from snapshots.services.archives import blob_store

    sha, _new = blob_store().put(page)
    Blob.objects.create(sha256=sha, size=len(page), content_type="text/html")
    Snapshot.objects.create(
        link=captured,
        status=Snapshot.Status.SUCCEEDED,
        content_type="text/html",
        archive=Blob.objects.get(pk=sha),
    )
    buffer = io.BytesIO()
    written = export_archive_zip(links=Link.objects.filter(owner=user), stream=buffer)
    assert written == 1
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        names = archive.namelist()
        assert "bookmarks.html" in names
        assert f"archives/{captured.pk}-a-page.html" in names
        assert b"Archived text" in archive.read(f"archives/{captured.pk}-a-page.html")
        assert b"Never captured" in archive.read("bookmarks.html")


def test_the_zips_bookmarks_link_each_archived_page_inside_the_zip(user):
    captured, _ = link_create(
        owner=user, url="https://example.com/page", title="A page", notes="Read again."
    )
    link_create(owner=user, url="https://example.com/never", title="Never captured")
    from snapshots.services.archives import blob_store

    page = b"<!doctype html><title>A page</title><p>Archived text</p>"
    sha, _new = blob_store().put(page)
    Blob.objects.create(sha256=sha, size=len(page), content_type="text/html")
    Snapshot.objects.create(
        link=captured,
        status=Snapshot.Status.SUCCEEDED,
        content_type="text/html",
        archive=Blob.objects.get(pk=sha),
    )
    buffer = io.BytesIO()
    export_archive_zip(links=Link.objects.filter(owner=user), stream=buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        bookmarks = archive.read("bookmarks.html").decode()
        target = f"archives/{captured.pk}-a-page.html"
        # a relative address: opened from the unpacked zip, the link opens the file beside it
        assert f'<A HREF="{target}" DATA-KB-ARCHIVE="1">archived copy</A> Read again.' in bookmarks
        assert target in archive.namelist()
        assert bookmarks.count("DATA-KB-ARCHIVE") == 1  # the uncaptured link has none
    # read back by kb, the archive link is neither a bookmark nor part of the notes
    entries = parse_bookmarks(bookmarks.encode())
    assert {(entry.url, entry.notes) for entry in entries} == {
        ("https://example.com/never", ""),
        ("https://example.com/page", "Read again."),
    }


def test_a_large_import_hands_the_enqueueing_to_the_worker(
    user, monkeypatch, django_capture_on_commit_callbacks
):
    from django_tasks import default_task_backend

    from snapshots.services import importer

    monkeypatch.setattr(importer, "DIRECT_ENQUEUE_LIMIT", 1)
    monkeypatch.setattr(importer, "FANOUT_BATCH", 2)
    with django_capture_on_commit_callbacks(execute=True):
        importer.import_bookmarks(owner=user, data=fixture("pocket.html"))
    fanned = [
        result
        for result in default_task_backend.results
        if result.task.func is importer.queue_imported_captures.func
    ]
    assert [len(result.args[0]) for result in fanned] == [2, 1]
    assert not Snapshot.objects.exclude(task_id="").exists()
    # The worker runs them: one capture task per imported link.
    for result in fanned:
        importer.queue_imported_captures.call(*result.args)
    assert not Snapshot.objects.filter(task_id="").exists()


def test_an_import_while_the_queue_is_down_saves_every_link_pending(
    user, monkeypatch, django_capture_on_commit_callbacks
):
    from snapshots.services import importer

    def down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(importer, "DIRECT_ENQUEUE_LIMIT", 1)
    monkeypatch.setattr(importer, "queue_imported_captures", SimpleNamespace(enqueue=down))
    with django_capture_on_commit_callbacks(execute=True):
        result = importer.import_bookmarks(owner=user, data=fixture("pocket.html"))
    assert result.created == 3
    links = Link.objects.filter(owner=user).select_related("latest_snapshot")
    assert [link.latest_snapshot.status for link in links] == [Snapshot.Status.PENDING] * 3


def test_a_queue_without_a_worker_captures_only_the_first_few_in_the_request(
    user, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """KB_TASK_BACKEND=immediate runs each capture inside the request: a large import must not."""
    from snapshots.services import importer

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    ran = []
    monkeypatch.setattr(importer, "IN_PLACE_LIMIT", 2)
    monkeypatch.setattr(importer, "snapshot_enqueue", lambda pk, **options: ran.append(pk))
    with django_capture_on_commit_callbacks(execute=True):
        result = importer.import_bookmarks(owner=user, data=fixture("pocket.html"))
    assert result.created == 3
    assert len(ran) == 2
    assert result.captures_left_pending == 1
    assert Snapshot.objects.filter(status=Snapshot.Status.PENDING).count() == 3
