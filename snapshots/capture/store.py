"""Content-addressed blobs: bytes stored once under their SHA-256, through a Django-like storage.

A blob's name is its digest split into two folder levels (``ab/cd/abcdef…``), so a second capture
of an unchanged page finds its images, fonts and stylesheets already stored and writes only what
changed. The storage is taken by duck typing (``exists``, ``size``, ``save``, ``open``,
``delete`` and, for local files, ``path``) — Django's ``FileSystemStorage`` or any
django-storages backend — so this module imports nothing from Django.

Writes are atomic, so a worker killed in the middle leaves no half-written blob behind a valid
name: on a local filesystem the bytes go to a temporary file in the target folder and are renamed
into place (``os.replace`` is atomic on POSIX); other backends upload whole objects (an S3 PUT is
atomic). Every write is checked by reading back the stored size.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from typing import Any, Protocol

__all__ = ["BlobStore", "BlobUnavailable", "BlobWriteError", "blob_name", "sha256_of"]


class Storage(Protocol):  # the part of django.core.files.storage.Storage this module uses
    def exists(self, name: str) -> bool: ...
    def size(self, name: str) -> int: ...
    def save(self, name: str, content: Any, max_length: int | None = None) -> str: ...
    def open(self, name: str, mode: str = "rb") -> Any: ...
    def delete(self, name: str) -> None: ...


class BlobWriteError(Exception):
    """The storage did not keep the bytes it was given (wrong size, another name...)."""


class BlobUnavailable(Exception):
    """The storage could not be read just now (an object store that does not answer or refuses,
    a disk error), as opposed to a blob that is not there (``FileNotFoundError``)."""


def sha256_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def blob_name(sha256: str) -> str:
    """``'abcdef…'`` → ``'ab/cd/abcdef…'``: two folder levels keep directories small."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class BlobStore:
    """Blobs by SHA-256 in ``storage``; see the module docstring."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    # ---- writing ----------------------------------------------------------------------------

    def put(self, body: bytes) -> tuple[str, bool]:
        """Store ``body`` unless a blob with its digest exists; returns ``(sha256, newly_written)``."""
        sha = sha256_of(body)
        name = blob_name(sha)
        if self._has_complete(name, len(body)):
            return sha, False
        local_path = self._local_path(name)
        if local_path is not None:
            _write_atomically(local_path, body)
        else:
            saved = self.storage.save(name, io.BytesIO(body))
            if saved != name:
                # Another writer stored the same digest meanwhile; the storage made a second name.
                with contextlib.suppress(Exception):
                    self.storage.delete(saved)
                if not self._has_complete(name, len(body)):
                    raise BlobWriteError(f"the storage kept blob {sha} under {saved!r}")
                return sha, False
        stored = self.storage.size(name)
        if stored != len(body):
            with contextlib.suppress(Exception):
                self.storage.delete(name)
            raise BlobWriteError(f"blob {sha}: stored {stored} bytes of {len(body)}")
        return sha, True

    # ---- reading and deleting ---------------------------------------------------------------

    def exists(self, sha256: str) -> bool:
        return self.storage.exists(blob_name(sha256))

    def read(self, sha256: str) -> bytes:
        try:
            with self.storage.open(blob_name(sha256), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            raise
        except Exception as error:  # each backend has its own errors (botocore's, OSError...)
            raise BlobUnavailable(f"blob {sha256}: {error}") from error

    def delete(self, sha256: str) -> None:
        name = blob_name(sha256)
        if self.storage.exists(name):
            self.storage.delete(name)

    # ---- helpers ----------------------------------------------------------------------------

    def _has_complete(self, name: str, size: int) -> bool:
        if not self.storage.exists(name):
            return False
        if self.storage.size(name) == size:
            return True
        # A blob of the wrong size can only be left over from a broken write by another tool:
        # the digest names the content, so replace it.
        self.storage.delete(name)
        return False

    def _local_path(self, name: str) -> str | None:
        # Only a FileSystemStorage (or a subclass) keeps its files where path() says; others
        # may have a path() that they do not read from (InMemoryStorage).
        if not any(cls.__name__ == "FileSystemStorage" for cls in type(self.storage).__mro__):
            return None
        return self.storage.path(name)  # type: ignore[attr-defined]


def _write_atomically(path: str, body: bytes) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".partial-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
