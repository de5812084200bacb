"""Capture speed: captures per second and peak memory of one worker process over the corpus, and
time per page of kb's two engines beside single-file-cli's on the same pages.

The inlining corpus and the pages of ``bench/pages/`` (which need their scripts and frames) are
served on 127.0.0.1 by a separate process (``python -m http.server``), so the figures are this
process's alone: it captures every page ``--rounds`` times with the real pipeline (fetch → decode
→ inline → extract, then the single-file assembly a download needs) one after another, as one
worker would — with the static engine, then with the browser engine (a warm worker: its browser
launched by a first capture, apart). Then single-file-cli (npm) saves each page with the same
Chromium, one whole CLI run per page as linkding and Karakeep run it (``--single-file-rounds``
times; skipped, with a word, when it is not installed). Failed and empty (0-byte) archives are
counted per tool.

    .venv/bin/python bench/capture_speed.py [../shared/corpora/inlining] [--rounds 3]
        [--single-file PATH] [--single-file-rounds 1] [--no-browser]

Peak memory: ``ru_maxrss`` of this process (the resident set, interpreter and libraries
included), and the peak of Python allocations during the captures (tracemalloc, which slows
them; measured in a separate round so the speed figure is not affected).
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from _corpus import (
    DEFAULT_INLINING,
    capture,
    corpus_or_exit,
    find_single_file,
    run_single_file,
    site_with_pages,
)
from capture_engines import SCRIPTED

from snapshots.capture.browser import find_chromium
from snapshots.capture.errors import CaptureError
from snapshots.capture.pipeline import single_file


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the corpus server did not start")


def capture_all(urls: list[str], base: str) -> int:
    total = 0
    for url in urls:
        captured = capture(url, base)
        if captured.archive is not None:
            total += len(single_file(captured.archive))
    return total


def time_engine(
    urls: list[str], base: str, engine: str, rounds: int
) -> tuple[list[float], int, int]:
    """Median seconds per page over ``rounds``; failed captures and empty archives (last round)."""
    times: dict[str, list[float]] = {}
    failed = empty = 0
    for _ in range(rounds):
        failed = empty = 0
        for url in urls:
            started = time.perf_counter()
            try:
                captured = capture(url, base, engine)
                size = len(single_file(captured.archive)) if captured.archive is not None else -1
            except CaptureError:
                size = None
            times.setdefault(url, []).append(time.perf_counter() - started)
            failed += size is None
            empty += size == 0
    return [statistics.median(times[url]) for url in urls], failed, empty


def time_single_file(
    command: str, chromium: str, urls: list[str], rounds: int
) -> tuple[list[float], int, int]:
    times: dict[str, list[float]] = {}
    failed = empty = 0
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(rounds):
            failed = empty = 0
            for number, url in enumerate(urls):
                output = Path(folder) / f"{number}.html"
                output.unlink(missing_ok=True)
                seconds, why = run_single_file(command, chromium, url, output)
                times.setdefault(url, []).append(seconds)
                failed += bool(why)
                empty += not why and output.stat().st_size == 0
    return [statistics.median(times[url]) for url in urls], failed, empty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT_INLINING))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--single-file", default="", help="single-file-cli's command (npm)")
    parser.add_argument("--single-file-rounds", type=int, default=1)
    parser.add_argument("--no-browser", action="store_true", help="the static engine only")
    args = parser.parse_args()
    root = corpus_or_exit(args.corpus, "capture speed")
    chromium = None if args.no_browser else find_chromium(os.environ.get("KB_CHROMIUM", ""))
    if chromium is None and not args.no_browser:
        print("capture speed: no Chromium (KB_CHROMIUM or on PATH): browser engine skipped.")
    command = find_single_file(args.single_file) if chromium else None
    if chromium and command is None:
        print("capture speed: single-file-cli not found (npm install single-file-cli): skipped.")
    scratch = tempfile.TemporaryDirectory()
    site = Path(scratch.name)
    pages = site_with_pages(root, site, SCRIPTED)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(site),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    per_page: dict[str, tuple[list[float], int, int]] = {}
    try:
        wait_for(port)
        base = f"http://127.0.0.1:{port}"
        urls = [f"{base}/{page}" for page in pages]
        capture_all(urls[:1], base)  # warm-up: imports, first connections
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        timings = []
        produced = 0
        for _ in range(args.rounds):
            started = time.perf_counter()
            produced = capture_all(urls, base)
            timings.append(time.perf_counter() - started)
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        capture_all(urls, base)
        _, python_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        per_page["kb static"] = time_engine(urls, base, "static", args.rounds)
        if chromium:
            started = time.perf_counter()
            capture(urls[-1], base, "browser")  # the worker's browser starts
            launch = time.perf_counter() - started
            per_page["kb browser"] = time_engine(urls, base, "browser", args.rounds)
        if command:
            per_page["SingleFile"] = time_single_file(
                command, chromium, urls, args.single_file_rounds
            )
    finally:
        server.terminate()
        server.wait()
        scratch.cleanup()

    per_round = statistics.median(timings)
    print(
        f"pages: {len(urls)}   rounds: {args.rounds}   single files produced per round: {produced:,d} B"
    )
    print(
        f"captures per second: {len(urls) / per_round:.2f}   (median round {per_round:.2f} s; "
        f"rounds {', '.join(f'{t:.2f}' for t in timings)} s)"
    )
    print(f"mean time per capture: {per_round / len(urls) * 1000:.0f} ms")
    print(
        f"peak RSS of the worker process: {rss_peak / 1024:.0f} MB (after warm-up {rss_before / 1024:.0f} MB)"
    )
    print(
        f"peak Python allocations during one round (tracemalloc): {python_peak / 1024 / 1024:.1f} MB"
    )
    print()
    if "kb browser" in per_page:
        print(f"the worker's browser started in {launch:.2f} s (one capture, not counted below)")
    print(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'tool':11} {'s/page':>7} {'median':>7} {'worst':>7} {'failed':>7} {'empty':>6}")
    for tool, (seconds, failed, empty) in per_page.items():
        print(
            f"{tool:11} {statistics.mean(seconds):7.2f} {statistics.median(seconds):7.2f} "
            f"{max(seconds):7.2f} {failed:7d} {empty:6d}"
        )
    if "SingleFile" in per_page:
        theirs = statistics.mean(per_page["SingleFile"][0])
        for tool in ("kb static", "kb browser"):
            if tool in per_page:
                print(
                    f"{tool} is {theirs / statistics.mean(per_page[tool][0]):.1f}x SingleFile's speed"
                )


if __name__ == "__main__":
    main()
