"""Stored archives in an S3-compatible bucket, configured as README says (KB_STORAGE_BACKEND and
the AWS_* variables), against moto's S3 server running as its own HTTP process on 127.0.0.1
(tests/support/s3.py). A local site is captured; kb serves the archive, download and icon itself,
from the bucket, byte for byte; deleting the link empties the bucket; the zip export reads it.
"""

import hashlib
import io
import zipfile

import pytest
from django.test import Client

from snapshots.capture.store import blob_name
from snapshots.models import Link, Snapshot
from snapshots.services.archives import snapshot_single_file
from snapshots.services.bundle import export_archive_zip
from snapshots.tasks import capture_snapshot, snapshot_request
from tests.support.capture import capture_from
from tests.support.images import gif, png
from tests.support.s3 import S3Server, store_blobs_in_bucket
from tests.support.servers import LocalHTTPServer

pytestmark = [pytest.mark.network, pytest.mark.django_db]

ICON = png(16, 16, (200, 30, 30))
PICTURE = gif((10, 120, 30))
STYLE = b"h1 { color: #123456 }"
PAGE = (
    b"<!doctype html><html><head><title>Stored in a bucket</title>"
    b'<link rel="icon" href="/favicon.png"><link rel="stylesheet" href="/site.css"></head>'
    b'<body><article><h1>Stored in a bucket</h1><img src="/picture.gif" alt="a picture">'
    + b"<p>A paragraph of text to keep, long enough to be the article. </p>" * 10
    + b"</article></body></html>"
)
PREFIX = "kb/blobs"


@pytest.fixture(scope="module")
def s3():
    with S3Server() as server:
        yield server


@pytest.fixture(scope="module")
def site():
    with LocalHTTPServer() as server:
        server.route("/page", body=PAGE, headers={"Content-Type": "text/html; charset=utf-8"})
        server.route("/favicon.png", body=ICON, headers={"Content-Type": "image/png"})
        server.route("/picture.gif", body=PICTURE, headers={"Content-Type": "image/gif"})
        server.route("/site.css", body=STYLE, headers={"Content-Type": "text/css"})
        yield server


@pytest.fixture
def bucket(s3, site, settings, tmp_path):
    capture_from(settings, site, tmp_path)
    name = s3.new_bucket()
    store_blobs_in_bucket(settings, s3, name, location=PREFIX)
    return name


@pytest.fixture
def ada(user, api_token):
    return Client(headers={"Authorization": f"Bearer {api_token}"})


def captured(user, url: str) -> Snapshot:
    link = Link.objects.create(owner=user, url=url, normalized_url=url)
    snapshot = snapshot_request(link=link, enqueue=False)
    capture_snapshot.enqueue(snapshot.pk)  # the immediate backend of the tests runs it now
    snapshot.refresh_from_db()
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    return snapshot


def stored_keys(snapshot: Snapshot) -> set[str]:
    shas = set(snapshot.blobs.values_list("sha256", flat=True)) | {snapshot.archive_id}
    return {f"{PREFIX}/{blob_name(sha)}" for sha in shas}


def test_a_capture_is_stored_in_the_bucket_and_served_by_kb_byte_for_byte(
    s3, site, bucket, user, ada
):
    snapshot = captured(user, site.url("/page"))

    keys = s3.keys(bucket)
    assert keys == stored_keys(snapshot)
    for key in keys:  # every object is named by the digest of what it holds
        assert hashlib.sha256(s3.read(bucket, key)).hexdigest() == key.rsplit("/", 1)[1]
    assert s3.read(bucket, f"{PREFIX}/{blob_name(hashlib.sha256(ICON).hexdigest())}") == ICON

    archive = ada.get(f"/archive/{snapshot.pk}/")
    assert archive.status_code == 200  # served by kb, not a redirect to the bucket
    assert archive["Content-Security-Policy"].startswith("sandbox;")
    assert archive.content == snapshot_single_file(snapshot)
    html = archive.content.decode()
    assert "Stored in a bucket" in html
    assert "color: #123456" in html or "data:text/css" in html
    assert s3.endpoint_url not in html

    download = ada.get(f"/snapshots/{snapshot.pk}/download/")
    assert (download.status_code, download.content) == (200, archive.content)
    assert download["Content-Disposition"].startswith("attachment;")

    icon = ada.get(f"/snapshots/{snapshot.pk}/icon/")
    assert (icon.status_code, icon["Content-Type"], icon.content) == (200, "image/png", ICON)


def test_the_archive_from_the_bucket_is_the_one_kept_on_local_files(
    s3, site, bucket, user, other_user, settings, tmp_path
):
    in_bucket = snapshot_single_file(captured(user, site.url("/page")))
    capture_from(settings, site, tmp_path)  # the same page again, on local files
    on_disk = snapshot_single_file(captured(other_user, site.url("/page")))

    assert in_bucket == on_disk


def test_deleting_the_link_removes_its_objects_from_the_bucket(
    s3, site, bucket, user, ada, django_capture_on_commit_callbacks
):
    kept = captured(user, site.url("/page"))
    gone = captured(user, site.url("/page?again"))
    assert s3.keys(bucket) == stored_keys(kept) | stored_keys(gone)

    with django_capture_on_commit_callbacks(execute=True):
        assert ada.delete(f"/api/links/{gone.link_id}").status_code == 204
    assert s3.keys(bucket) == stored_keys(kept)  # the same bytes are one object, still used

    with django_capture_on_commit_callbacks(execute=True):
        assert ada.delete(f"/api/links/{kept.link_id}").status_code == 204
    assert s3.keys(bucket) == set()


def test_the_zip_export_holds_the_archive_from_the_bucket(s3, site, bucket, user, ada):
    snapshot = captured(user, site.url("/page"))
    served = ada.get(f"/archive/{snapshot.pk}/").content

    stream = io.BytesIO()
    assert export_archive_zip(links=Link.objects.filter(owner=user), stream=stream) == 1
    with zipfile.ZipFile(stream) as exported:
        [page] = [name for name in exported.namelist() if name.startswith("archives/")]
        assert exported.read(page) == served


def test_an_object_missing_from_the_bucket_is_a_404_not_a_500(s3, site, bucket, user, ada):
    snapshot = captured(user, site.url("/page"))
    s3.client.delete_object(Bucket=bucket, Key=f"{PREFIX}/{blob_name(snapshot.icon_sha256)}")
    s3.client.delete_object(Bucket=bucket, Key=f"{PREFIX}/{blob_name(snapshot.archive_id)}")

    assert ada.get(f"/archive/{snapshot.pk}/").status_code == 404
    assert ada.get(f"/snapshots/{snapshot.pk}/icon/").status_code == 404


def test_a_store_that_does_not_answer_is_a_503_with_a_sentence_and_deleting_still_works(
    site, user, ada, client, settings, tmp_path, django_capture_on_commit_callbacks
):
    capture_from(settings, site, tmp_path)
    with S3Server() as down:  # this test's own server, stopped once the page is stored
        store_blobs_in_bucket(settings, down, down.new_bucket(), location=PREFIX)
        snapshot = captured(user, site.url("/page"))
    client.force_login(user)

    for path in (f"/archive/{snapshot.pk}/", f"/snapshots/{snapshot.pk}/download/"):
        response = ada.get(path)
        assert response.status_code == 503, path
        assert response.content.decode() == (
            "The stored copy cannot be read right now. Try again in a moment."
        )
        assert response["Retry-After"] == "30"
        assert response["Content-Security-Policy"].startswith("sandbox;")
    assert ada.get(f"/snapshots/{snapshot.pk}/icon/").status_code == 503
    export = client.get("/links/export/", {"format": "zip"})
    assert export.status_code == 503  # never a zip without its archives
    assert "cannot be read right now" in export.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        assert ada.delete(f"/api/links/{snapshot.link_id}").status_code == 204
    assert not Link.objects.filter(pk=snapshot.link_id).exists()
