"""Backup and move: a whole library (links, tags, notes, dates, read state, every snapshot with its
stored blobs) leaves in one zip and comes back identical; the export page's zip is that same zip;
hostile zips are refused with a sentence and save nothing."""

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from snapshots.models import Blob, Link, Snapshot
from snapshots.queries import LibraryFilters, library_links
from snapshots.services.archives import blob_store, snapshot_single_file
from snapshots.services.bundle import export_archive_zip, snapshot_fields
from snapshots.services.bundle_import import BundleError, Limits, restore_bundle
from snapshots.services.links import link_create
from snapshots.tasks import capture_snapshot, snapshot_request
from tests.support.capture import capture_from
from tests.support.images import png
from tests.support.servers import LocalHTTPServer

pytestmark = pytest.mark.django_db

HTML = {"Content-Type": "text/html; charset=utf-8"}
ICON = png(16, 16, (200, 30, 30))
PHOTO = png(40, 30, (10, 120, 200))


def page(title: str, body: str) -> bytes:
    return (
        f"<!doctype html><html><head><title>{title}</title>"
        '<meta name="description" content="A page kept for the backup test.">'
        '<link rel="icon" href="/favicon.png"><link rel="stylesheet" href="/style.css"></head>'
        f'<body><article><h1>{title}</h1><p>{body}</p><img src="/photo.png" alt="photo">'
        "</article></body></html>"
    ).encode()


@pytest.fixture
def server():
    with LocalHTTPServer() as server:
        server.route(
            "/essay", body=page("An essay", "First version of the essay. " * 20), headers=HTML
        )
        server.route("/entropy", body=page("信息熵", "熵是信息论的基本概念。" * 20), headers=HTML)
        server.route(
            "/notes.txt", body=b"plain text notes\n" * 50, headers={"Content-Type": "text/plain"}
        )
        server.route("/favicon.png", body=ICON, headers={"Content-Type": "image/png"})
        server.route("/photo.png", body=PHOTO, headers={"Content-Type": "image/png"})
        server.route("/style.css", body=b"p { color: #333 }", headers={"Content-Type": "text/css"})
        yield server


@pytest.fixture(autouse=True)
def capture_settings(settings, server, tmp_path):
    return capture_from(settings, server, tmp_path)


def capture(link: Link) -> Snapshot:
    snapshot = snapshot_request(link=link, enqueue=False)
    capture_snapshot.enqueue(snapshot.pk)  # the tests' immediate backend runs it now
    snapshot.refresh_from_db()
    return snapshot


@pytest.fixture
def add(django_capture_on_commit_callbacks):
    """link_create, its capture run as a commit would run it (the tests' immediate backend)."""

    def add(**fields) -> tuple[Link, Snapshot]:
        with django_capture_on_commit_callbacks(execute=True):
            link, _ = link_create(**fields)
        link.refresh_from_db()
        return link, link.latest_snapshot

    return add


def build_library(user, server, add) -> None:
    """Links with user and captured titles, notes, tags, both privacies and read states, old
    dates, a history of two captures, a failure, a document and a link never captured."""
    essay, first = add(
        owner=user, url=server.url("/essay"), tags=["essays", "第1页"], notes="Read *twice*."
    )
    assert first.status == Snapshot.Status.SUCCEEDED, first.error
    server.route("/essay", body=page("An essay, revised", "Second version. " * 30), headers=HTML)
    assert capture(essay).status == Snapshot.Status.SUCCEEDED
    _, entropy = add(
        owner=user, url=server.url("/entropy"), tags=["信息论"], title="My own title", private=False
    )
    assert entropy.status == Snapshot.Status.SUCCEEDED
    _, text = add(owner=user, url=server.url("/notes.txt"), tags=["essays"])
    assert text.status == Snapshot.Status.SUCCEEDED
    _, gone = add(owner=user, url=server.url("/gone"), notes="404 by now")
    assert gone.status == Snapshot.Status.FAILED
    Link.objects.create(
        owner=user,
        url="https://example.org/never-captured",
        normalized_url="https://example.org/never-captured",
        notes="no capture yet",
    )
    old = datetime(2019, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    Link.objects.filter(owner=user, url=server.url("/essay")).update(unread=False, created=old)
    Link.objects.filter(owner=user, url=server.url("/gone")).update(
        created=old, updated=datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    )


def library_state(user) -> dict:
    """Everything a person could see of the library, keyed by URL: link fields, tags, every
    snapshot's fields, its blobs' bytes, and the single file it opens as."""
    store = blob_store()
    state = {}
    fields = [f for f in snapshot_fields() if f.name not in ("id",)]
    for link in Link.objects.filter(owner=user).prefetch_related("tags"):
        history = []
        for snapshot in link.snapshots.order_by("requested", "id"):
            blobs = sorted(snapshot.blobs.values_list("sha256", "size", "content_type"))
            entry = {f.attname: getattr(snapshot, f.attname) for f in fields}
            entry["blobs"] = blobs
            entry["bytes"] = {sha: store.read(sha) for sha, _size, _kind in blobs}
            entry["single_file"] = (
                hashlib.sha256(snapshot_single_file(snapshot)).hexdigest()
                if snapshot.archive_id
                else None
            )
            entry["is_latest"] = snapshot.pk == link.latest_snapshot_id
            history.append(entry)
        state[link.url] = {
            "title": link.title,
            "display_title": link.display_title,
            "description": link.description,
            "notes": link.notes,
            "tags": sorted(link.tags.names()),
            "private": link.private,
            "unread": link.unread,
            "created": link.created,
            "updated": link.updated,
            "snapshots": history,
        }
    return state


def empty_the_instance(settings, tmp_path, backend: str = "files") -> None:
    """As if on a new machine: no links, no blob rows, and an empty blob store (local files, or
    a store that is not a filesystem, as a bucket is not)."""
    Link.objects.all().delete()
    Blob.objects.all().delete()
    store = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "new-machine-blobs")},
    }
    if backend == "memory":
        store = {"BACKEND": "django.core.files.storage.InMemoryStorage"}
    settings.STORAGES = {**settings.STORAGES, "default": store}


@pytest.mark.parametrize("backend", ["files", "memory"])
def test_backup_then_restore_into_an_empty_instance_is_identical(
    user, server, settings, tmp_path, add, backend
):
    build_library(user, server, add)
    before = library_state(user)
    assert len(before) == 5
    assert sum(len(v["snapshots"]) for v in before.values()) == 5
    backup = tmp_path / "library.zip"
    call_command("backup", str(backup), "--user", user.username, verbosity=0)

    empty_the_instance(settings, tmp_path, backend)
    assert not any((tmp_path / "new-machine-blobs").glob("**/*"))
    out = io.StringIO()
    call_command("restore", str(backup), "--user", user.username, "--no-capture", stdout=out)
    assert "Restored 5 links" in out.getvalue()
    after = library_state(user)
    assert after == before
    # The captured title shows, and is not pinned as the user's own.
    essay = after[server.url("/essay")]
    assert (essay["title"], essay["display_title"]) == ("", "An essay, revised")
    assert after[server.url("/entropy")]["title"] == "My own title"
    assert essay["description"] == "A page kept for the backup test."
    found = library_links(user, LibraryFilters(q="信息论"))
    assert [link.url for link in found] == [server.url("/entropy")]
    newest = essay["snapshots"][-1]
    # skeleton, icon and photo (the stylesheet is inlined into the skeleton), bytes compared above
    assert len(newest["blobs"]) >= 3
    assert newest["icon_sha256"]
    assert newest["is_latest"]


def test_restore_into_another_users_empty_library(user, other_user, server, tmp_path, add):
    build_library(user, server, add)
    before = library_state(user)
    backup = tmp_path / "library.zip"
    call_command("backup", str(backup), "--user", user.username, verbosity=0)
    call_command("restore", str(backup), "--user", other_user.username, "--no-capture", verbosity=0)
    assert library_state(other_user) == before
    assert library_state(user) == before  # the original is untouched; blobs are shared


def test_export_zip_imports_back_through_the_import_page(
    client, user, server, settings, tmp_path, add
):
    build_library(user, server, add)
    before = library_state(user)
    client.force_login(user)
    response = client.get(reverse("snapshots:links_export"), {"format": "zip"})
    assert response.status_code == 200
    exported = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(exported)) as zf:
        names = zf.namelist()
    assert "kb.json" in names
    assert "bookmarks.html" in names
    assert any(name.startswith("archives/") for name in names)

    empty_the_instance(settings, tmp_path)
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    upload = io.BytesIO(exported)
    upload.name = "kb-archive.zip"
    response = client.post(reverse("snapshots:links_import"), {"file": upload, "private": "on"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "5 links restored from the library zip." in text
    assert "5 captures restored with their archives." in text
    after = library_state(user)
    # The never-captured link gets a capture queued on import (as a bookmarks import would).
    queued = after[("https://example.org/never-captured")]["snapshots"]
    assert [s["status"] for s in queued] == [Snapshot.Status.PENDING]
    after["https://example.org/never-captured"]["snapshots"] = []
    assert after == before


def test_export_zip_merges_into_a_library_that_has_links(client, user, server, tmp_path, add):
    build_library(user, server, add)
    buffer = io.BytesIO()
    export_archive_zip(links=Link.objects.filter(owner=user), stream=buffer)
    before = library_state(user)
    buffer.seek(0)
    upload = buffer
    upload.name = "again.zip"
    client.force_login(user)
    response = client.post(reverse("snapshots:links_import"), {"file": upload})
    assert "5 links were already in your library" in response.content.decode()
    assert library_state(user) == before  # nothing doubled


def test_restore_refuses_a_library_that_is_not_empty_unless_merging(user, server, tmp_path, add):
    build_library(user, server, add)
    backup = tmp_path / "library.zip"
    call_command("backup", str(backup), verbosity=0)
    with pytest.raises(CommandError, match=r"already has 5 links.*--merge"):
        call_command("restore", str(backup), "--no-capture", verbosity=0)
    before = library_state(user)
    call_command("restore", str(backup), "--merge", "--no-capture", verbosity=0)
    assert library_state(user) == before


def test_an_old_export_zip_without_kb_json_imports_its_bookmarks(client, user):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(
            "bookmarks.html",
            '<!DOCTYPE NETSCAPE-Bookmark-file-1><DL><p><DT><A HREF="https://example.org/a" '
            'TAGS="old">A</A></DL><p>',
        )
    buffer.seek(0)
    buffer.name = "old.zip"
    client.force_login(user)
    response = client.post(reverse("snapshots:links_import"), {"file": buffer})
    assert response.status_code == 200
    assert list(Link.objects.filter(owner=user).values_list("url", flat=True)) == [
        "https://example.org/a"
    ]


# ---- hostile and broken zips ------------------------------------------------------------------


def good_bundle(user, server, tmp_path) -> Path:
    link = Link.objects.create(
        owner=user, url=server.url("/essay"), normalized_url=server.url("/essay")
    )
    assert capture(link).status == Snapshot.Status.SUCCEEDED
    path = tmp_path / "good.zip"
    call_command("backup", str(path), verbosity=0)
    return path


def rewritten(source: Path, target: Path, change) -> Path:
    """A copy of the zip at ``source`` whose members pass through ``change(name, data)``, which
    returns a list of (name, data) to write instead."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            for name, data in change(info.filename, old.read(info)):
                new.writestr(name, data)
    return target


def refused(path: Path, user, match: str) -> None:
    """Restoring ``path`` (merging) fails with a sentence, and the library is as it was."""
    before = library_state(user)
    blobs = Blob.objects.count()
    with pytest.raises(CommandError, match=match):
        call_command("restore", str(path), "--merge", "--no-capture", verbosity=0)
    assert library_state(user) == before
    assert Blob.objects.count() == blobs


def test_a_member_named_outside_its_folder_is_refused(user, server, tmp_path):
    good = good_bundle(user, server, tmp_path)
    for evil in ("../escape.txt", "/etc/cron.d/x", "blobs/../../x", "a\\..\\b"):
        bad = rewritten(
            good,
            tmp_path / "traversal.zip",
            lambda name, data, evil=evil: (
                [(name, data)] + ([(evil, b"x")] if name == "kb.json" else [])
            ),
        )
        refused(bad, user, "points outside its folder")
    assert not (tmp_path.parent / "escape.txt").exists()


def test_a_zip_bomb_is_refused_before_it_is_unpacked(user, server, tmp_path):
    good = good_bundle(user, server, tmp_path)
    bomb = rewritten(
        good,
        tmp_path / "bomb.zip",
        lambda name, data: (
            [(name, data)]
            + ([("blobs/" + "0" * 64, b"\0" * (20 * 2**20))] if name == "kb.json" else [])
        ),
    )
    assert bomb.stat().st_size < 200_000
    refused(bomb, user, "zip bomb")


def test_a_blob_whose_bytes_do_not_match_its_name_is_refused(user, server, tmp_path):
    good = good_bundle(user, server, tmp_path)
    manifest = json.loads(zipfile.ZipFile(good).read("kb.json"))
    archive = manifest["links"][0]["snapshots"][0]["archive"]

    def tamper(name, data):
        if name == f"blobs/{archive}":
            data = data.replace(b"First version", b"Other version")
        return [(name, data)]

    refused(rewritten(good, tmp_path / "tampered.zip", tamper), user, "does not hold the bytes")


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        (lambda m: b"{not json", r"kb.json is not valid JSON \(line 1\)"),
        (lambda m: b"[" * 200_000, "nests too deeply"),
        (lambda m: json.dumps({**m, "format": "other"}).encode(), "does not describe a kb library"),
        (lambda m: json.dumps({**m, "version": 9}).encode(), "newer kb \\(format version 9\\)"),
        (
            lambda m: json.dumps({**m, "links": [{**m["links"][0], "private": "yes"}]}).encode(),
            "link 1: “private” is neither true nor false",
        ),
        (
            lambda m: json.dumps(
                {**m, "links": [{**m["links"][0], "url": "javascript:alert(1)"}]}
            ).encode(),
            "link 1: “url”",
        ),
        (
            lambda m: json.dumps(
                {
                    **m,
                    "links": [
                        {
                            **m["links"][0],
                            "snapshots": [{**m["links"][0]["snapshots"][0], "status": "hacked"}],
                        }
                    ],
                }
            ).encode(),
            "snapshot 1: “status” is not one of the known values",
        ),
        (lambda m: json.dumps({**m, "blobs": {}}).encode(), "names a blob the zip does not list"),
    ],
)
def test_a_bad_manifest_is_refused_with_a_sentence(user, server, tmp_path, change, sentence):
    good = good_bundle(user, server, tmp_path)

    def edit(name, data):
        return [(name, change(json.loads(data)) if name == "kb.json" else data)]

    refused(rewritten(good, tmp_path / "bad.zip", edit), user, sentence)


def test_not_a_zip_and_a_zip_without_a_library_are_refused(user, server, tmp_path):
    good_bundle(user, server, tmp_path)
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 this is cut short")
    refused(junk, user, "not a zip, or it is damaged")
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "hello")
    refused(empty, user, "holds no kb.json")


def test_the_import_page_refuses_a_hostile_zip_with_a_sentence(client, user, server, tmp_path):
    good = good_bundle(user, server, tmp_path)
    bad = rewritten(
        good,
        tmp_path / "traversal.zip",
        lambda name, data: [(name, data)] + ([("../../evil", b"x")] if name == "kb.json" else []),
    )
    before = library_state(user)
    client.force_login(user)
    with bad.open("rb") as upload:
        response = client.post(reverse("snapshots:links_import"), {"file": upload})
    assert response.status_code == 200
    assert "points outside its folder" in response.content.decode()
    assert library_state(user) == before


def test_the_refusal_is_in_the_readers_language(client, user, server, tmp_path):
    good = good_bundle(user, server, tmp_path)
    bad = rewritten(
        good,
        tmp_path / "bad.zip",
        lambda name, data: [(name, b"[1, 2")] if name == "kb.json" else [(name, data)],
    )
    client.force_login(user)
    with bad.open("rb") as upload:
        response = client.post(
            reverse("snapshots:links_import"), {"file": upload}, HTTP_ACCEPT_LANGUAGE="zh-hans"
        )
    text = response.content.decode()
    assert "kb.json 不是有效的 JSON（第 1 行）：没有恢复任何内容。" in text
    assert "书签文件或 kb 资料库压缩包" in text


def test_a_blob_lost_before_the_backup_restores_its_snapshot_as_failed(
    user, other_user, server, tmp_path
):
    link = Link.objects.create(
        owner=user, url=server.url("/essay"), normalized_url=server.url("/essay")
    )
    snapshot = capture(link)
    blob_store().delete(snapshot.archive_id)
    backup = tmp_path / "library.zip"
    err = io.StringIO()
    call_command("backup", str(backup), "--user", user.username, stderr=err, verbosity=0)
    assert f"stored blob {snapshot.archive_id} could not be read" in err.getvalue()
    call_command("restore", str(backup), "--user", other_user.username, "--no-capture", verbosity=0)
    restored = Snapshot.objects.get(link__owner=other_user)
    assert restored.status == Snapshot.Status.FAILED
    assert restored.archive_id is None
    assert "missing when the backup was written" in restored.error
    assert restored.title == snapshot.title  # the rest of what was captured is kept


def test_restore_queues_captures_for_links_never_captured(user, other_user, settings, tmp_path):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    Link.objects.create(
        owner=user, url="https://example.org/x", normalized_url="https://example.org/x"
    )
    backup = tmp_path / "library.zip"
    call_command("backup", str(backup), "--user", user.username, verbosity=0)
    out = io.StringIO()
    call_command("restore", str(backup), "--user", other_user.username, stdout=out)
    assert "1 captures queued" in out.getvalue()
    link = Link.objects.select_related("latest_snapshot").get(owner=other_user)
    assert link.latest_snapshot.status == Snapshot.Status.PENDING


def test_backup_into_a_missing_folder_says_so(user, tmp_path):
    with pytest.raises(CommandError, match="no such folder"):
        call_command("backup", str(tmp_path / "nowhere" / "kb.zip"), verbosity=0)
    assert not list(tmp_path.iterdir())


def test_the_unpacked_size_is_bounded_before_anything_is_read(user, server, tmp_path):
    good = good_bundle(user, server, tmp_path)
    with pytest.raises(BundleError, match=r"would unpack to [\d.]+ KB; at most 1 KB"):
        restore_bundle(owner=user, source=str(good), merge=True, limits=Limits(total_bytes=1000))
    with pytest.raises(BundleError, match="too large or packed too tightly"):
        restore_bundle(owner=user, source=str(good), merge=True, limits=Limits(member_bytes=100))


def test_the_import_command_takes_the_export_zip(user, other_user, server, tmp_path, add):
    build_library(user, server, add)
    before = library_state(user)
    exported = tmp_path / "export.zip"
    with exported.open("wb") as stream:
        export_archive_zip(links=Link.objects.filter(owner=user), stream=stream)
    out = io.StringIO()
    call_command(
        "import_bookmarks", str(exported), "--user", other_user.username, "--no-capture", stdout=out
    )
    assert "5 captures restored with their archives" in out.getvalue()
    assert library_state(other_user) == before
