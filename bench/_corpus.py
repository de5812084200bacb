"""What the capture benchmarks share: finding the corpus, serving it on 127.0.0.1, capturing a page.

The pipeline is the real one (``snapshots.capture.pipeline.capture_page``: fetch → decode → inline
→ extract) with a fetch policy that allows only the local server; no database, no Django setup.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from snapshots.capture.browser import find_chromium  # noqa: E402
from snapshots.capture.engines import capture as capture_with_engine  # noqa: E402
from snapshots.capture.pipeline import Capture, capture_page, default_policy  # noqa: E402

DEFAULT_INLINING = REPO.parent / "shared" / "corpora" / "inlining"


def corpus_or_exit(path: str | Path, what: str) -> Path:
    folder = Path(path).resolve()
    if not folder.is_dir():
        print(f"{what}: corpus {folder} is absent; skipping.")
        raise SystemExit(0)
    return folder


def inlining_pages(root: Path) -> list[Path]:
    """Every page of the inlining corpus, without another tool's outputs (``*.inlined*.html``)."""
    return sorted(p for p in root.rglob("*.html") if ".inlined" not in p.name)


class _QuietHandler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (an ephemeral port) in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def capture(url: str, base_url: str, engine: str = "static") -> Capture:
    """One capture of ``url`` through the real pipeline, allowed to reach only ``base_url``;
    ``engine`` auto or browser renders it in Chromium (KB_CHROMIUM, else on PATH)."""
    host_port = base_url.split("://", 1)[1]
    policy = default_policy(allow_hosts=[host_port])
    if engine == "static":
        return capture_page(url, policy)
    chromium = find_chromium(os.environ.get("KB_CHROMIUM", ""))
    return capture_with_engine(url, policy, engine=engine, chromium=chromium)
