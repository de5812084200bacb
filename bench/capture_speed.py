"""Capture speed: captures per second and peak memory of one worker process over the corpus.

The inlining corpus is served on 127.0.0.1 by a separate process (``python -m http.server``), so
the figures are this process's alone: it captures every page ``--rounds`` times with the real
pipeline (fetch → decode → inline → extract, then the single-file assembly a download needs) one
after another, as one worker would.

    .venv/bin/python bench/capture_speed.py [../shared/corpora/inlining] [--rounds 3]

Peak memory: ``ru_maxrss`` of this process (the resident set, interpreter and libraries
included), and the peak of Python allocations during the captures (tracemalloc, which slows
them; measured in a separate round so the speed figure is not affected).
"""

from __future__ import annotations

import argparse
import resource
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc

from _corpus import DEFAULT_INLINING, capture, corpus_or_exit, inlining_pages

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT_INLINING))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = corpus_or_exit(args.corpus, "capture speed")
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
            str(root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(port)
        base = f"http://127.0.0.1:{port}"
        urls = [f"{base}/{p.relative_to(root).as_posix()}" for p in inlining_pages(root)]
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
    finally:
        server.terminate()
        server.wait()

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


if __name__ == "__main__":
    main()
