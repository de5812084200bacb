"""The content-addressed blob store: names, dedup, atomic writes, size checks (no database)."""

import hashlib
import os

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, InMemoryStorage

from snapshots.capture.store import BlobStore, BlobWriteError, blob_name


@pytest.fixture
def store(tmp_path):
    return BlobStore(FileSystemStorage(location=tmp_path))


def test_blob_name_splits_the_digest_into_two_folder_levels():
    sha = hashlib.sha256(b"x").hexdigest()
    assert blob_name(sha) == f"{sha[:2]}/{sha[2:4]}/{sha}"
    with pytest.raises(ValueError, match="not a SHA-256"):
        blob_name("../etc/passwd")


def test_a_write_leaves_no_temporary_file_behind(store, tmp_path):
    sha, written = store.put(b"a" * 100_000)
    assert written
    files = [name for _, _, names in os.walk(tmp_path) for name in names]
    assert files == [sha]


def test_a_truncated_blob_from_a_broken_write_is_replaced(store, tmp_path):
    body = b"complete body" * 100
    sha = hashlib.sha256(body).hexdigest()
    path = tmp_path / blob_name(sha)
    path.parent.mkdir(parents=True)
    path.write_bytes(body[:10])  # what a non-atomic writer killed mid-way would leave
    assert store.put(body) == (sha, True)
    assert store.read(sha) == body


def test_a_killed_write_does_not_leave_a_blob_under_its_name(store, tmp_path, monkeypatch):
    def killed(fd):
        raise KeyboardInterrupt  # the worker dies before the rename

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        store.put(b"half written")
    assert not store.exists(hashlib.sha256(b"half written").hexdigest())
    assert [name for _, _, names in os.walk(tmp_path) for name in names] == []


def test_storages_without_local_paths_are_written_through_save():
    store = BlobStore(InMemoryStorage())
    sha, written = store.put(b"remote bytes")
    assert written
    assert store.read(sha) == b"remote bytes"
    assert store.put(b"remote bytes") == (sha, False)
    store.delete(sha)
    assert not store.exists(sha)


def test_a_storage_that_keeps_fewer_bytes_is_an_error():
    class Truncating(InMemoryStorage):
        def _save(self, name, content):
            return super()._save(name, ContentFile(content.read()[:3]))

    with pytest.raises(BlobWriteError):
        BlobStore(Truncating()).put(b"0123456789")
