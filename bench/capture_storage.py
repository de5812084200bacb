"""Capture storage: bytes a second capture of an unchanged page adds, against the first capture.

Each page of the inlining corpus (served on 127.0.0.1) is captured twice with the real pipeline and
stored in a fresh content-addressed store (Django's FileSystemStorage in a temporary folder), as
the capture task stores it: the skeleton and every asset, each under its SHA-256.

    .venv/bin/python bench/capture_storage.py [../shared/corpora/inlining]

Goal (issue 3): the second capture adds < 10 % of the first.
"""

from __future__ import annotations

import argparse
import tempfile

from _corpus import DEFAULT_INLINING, capture, corpus_or_exit, inlining_pages, serve
from django.conf import settings

from snapshots.capture.pipeline import Capture
from snapshots.capture.store import BlobStore

settings.configure()  # FileSystemStorage reads a few defaults; no database is used

from django.core.files.storage import FileSystemStorage  # noqa: E402


def store_capture(store: BlobStore, captured: Capture) -> int:
    """Store a capture as ``snapshots.tasks.store_blobs`` does (assets, then the archive); new bytes."""
    if captured.document is not None:
        bodies = [captured.document.body]
    else:
        bodies = [asset.body for asset in captured.archive.assets.values()]
        bodies.append(captured.archive.html.encode("utf-8"))
    new_bytes = 0
    for body in bodies:
        _, written = store.put(body)
        new_bytes += len(body) if written else 0
    return new_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT_INLINING))
    args = parser.parse_args()
    root = corpus_or_exit(args.corpus, "capture storage")
    total_first = total_second = 0
    worst = ("none", -1.0)
    with serve(root) as base, tempfile.TemporaryDirectory() as folder:
        for path in inlining_pages(root):
            name = path.relative_to(root).as_posix()
            store = BlobStore(FileSystemStorage(location=f"{folder}/{name}"))
            first = store_capture(store, capture(f"{base}/{name}", base))
            second = store_capture(store, capture(f"{base}/{name}", base))
            total_first += first
            total_second += second
            share = second / first if first else 0.0
            worst = max(worst, (name, share), key=lambda item: item[1])
            print(f"{name:55s} first {first:10,d} B   second {second:8,d} B   {share * 100:6.2f} %")
    print()
    print(f"all pages: first captures {total_first:,d} B, second captures {total_second:,d} B")
    print(f"second / first: {total_second / max(total_first, 1) * 100:.3f} %   (goal < 10 %)")
    print(f"worst page: {worst[0]} {worst[1] * 100:.2f} %")


if __name__ == "__main__":
    main()
