"""What the capture benchmarks share: finding the corpus, serving it on 127.0.0.1, capturing a page.

The pipeline is the real one (``snapshots.capture.pipeline.capture_page``: fetch → decode → inline
→ extract) with a fetch policy that allows only the local server; no database, no Django setup.
"""

from __future__ import annotations

import functools
import os
import shutil
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
# Pages written for the benchmarks that need their scripts and frames (see bench/pages/README.md).
BENCH_PAGES = Path(__file__).resolve().parent / "pages"
# single-file-cli (npm), for comparison: SINGLE_FILE, else on PATH, else the lead's /tmp/sf install.
SINGLE_FILE_PLACES = ("/tmp/sf/node_modules/.bin/single-file",)


def corpus_or_exit(path: str | Path, what: str) -> Path:
    folder = Path(path).resolve()
    if not folder.is_dir():
        print(f"{what}: corpus {folder} is absent; skipping.")
        raise SystemExit(0)
    return folder


def inlining_pages(root: Path) -> list[Path]:
    """Every page of the inlining corpus, without another tool's outputs (``*.inlined*.html``)."""
    return sorted(p for p in root.rglob("*.html") if ".inlined" not in p.name)


def site_with_pages(corpus: Path, folder: Path, extra: dict[str, str] | None = None) -> list[str]:
    """Copy the corpus to ``folder/corpus`` and the bench pages to ``folder/pages`` (plus ``extra``
    pages given as text); the pages to capture, relative to ``folder``, corpus first."""
    shutil.copytree(corpus, folder / "corpus")  # copied: rglob does not follow a symlink
    shutil.copytree(BENCH_PAGES, folder / "pages")
    for name, text in (extra or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    pages = [f"corpus/{p.relative_to(corpus).as_posix()}" for p in inlining_pages(corpus)]
    return pages + sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*.html")
        if not p.relative_to(folder).as_posix().startswith("corpus/")
    )


def group_of(page: str) -> str:
    """A page's group in the figures: the corpus folder it comes from, or ``scripted``."""
    parts = page.split("/")
    return parts[1] if parts[0] == "corpus" and len(parts) > 2 else "scripted"


def find_single_file(configured: str = "") -> str | None:
    """single-file-cli's command, or None: the benches then say SingleFile is skipped."""
    for place in (configured, os.environ.get("SINGLE_FILE", ""), shutil.which("single-file") or ""):
        if place and Path(place).is_file():
            return place
    return next((place for place in SINGLE_FILE_PLACES if Path(place).is_file()), None)


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


# Chromium with the network off but for 127.0.0.1: no name resolves, and anything else goes to a
# dead proxy (loopback bypasses a proxy). The live pages' and SingleFile's browsers both run so.
OFFLINE_ARGS = [
    "--no-sandbox",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "--hide-scrollbars",
]


def run_single_file(
    command: str, chromium: str, url: str, output: Path, timeout: float = 120
) -> tuple[float, str]:
    """One whole single-file-cli run (its own headless Chromium, as it always does) saving ``url``
    into ``output``, at 1280×800 with the network off: (seconds, "" or why it failed)."""
    import json
    import subprocess
    import time

    started = time.perf_counter()
    try:
        done = subprocess.run(
            [
                command,
                url,
                str(output),
                f"--browser-executable-path={chromium}",
                f"--browser-args={json.dumps(OFFLINE_ARGS)}",
                "--browser-width=1280",
                "--browser-height=800",
            ],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - started, f"no answer in {timeout:.0f} s"
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        last = (done.stderr or done.stdout).decode("utf-8", "replace").strip().splitlines()
        return elapsed, f"exit {done.returncode}: {last[-1][:100] if last else ''}"
    if not output.is_file():  # it exits 0 all the same, saying why on its output
        said = (done.stdout + done.stderr).decode("utf-8", "replace").strip().splitlines()
        return elapsed, f"no file written ({said[-1][:100] if said else 'nothing said'})"
    return elapsed, ""
