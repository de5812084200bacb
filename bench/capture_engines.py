"""Capture engines side by side: time per page of the static and the browser engine, and the peak
memory of one worker process with its browser.

The inlining corpus is served on 127.0.0.1 (plus a few pages written here that need their
scripts: an article built from JSON, CSS inserted through the CSSOM, a lazy image); every page is
captured with ``engine="static"`` and ``engine="browser"`` through ``snapshots.capture.engines``
(the browser's requests all answered by the guarded fetcher), one after another as one worker
would, after one warm-up capture each (the browser's launch is reported apart).

    .venv/bin/python bench/capture_engines.py [../shared/corpora/inlining] [--rounds 2]
        [--single-file PATH]   # also time single-file-cli (npm) on the same pages, same Chromium

Memory: the proportional set size (PSS, shared pages divided among their users) of this process
and every process under it (Playwright's driver, Chromium's browser, GPU, network and renderer
processes), sampled every 50 ms; its peak is what one worker with its browser needs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _corpus import DEFAULT_INLINING, corpus_or_exit, inlining_pages, serve

from snapshots.capture.browser import find_chromium, shared_engine
from snapshots.capture.engines import capture
from snapshots.capture.pipeline import default_policy, single_file

SCRIPTED = {
    "scripted/article.html": """<!DOCTYPE html><html><head><title>Built from JSON</title>
<style id="late"></style></head><body><div id="root"></div><script>
document.getElementById("late").sheet.insertRule("h1 { color: #a30; font: 2em serif }", 0);
fetch("article.json").then((r) => r.json()).then((d) => {
  document.getElementById("root").innerHTML = "<h1>" + d.title + "</h1>" +
    d.paragraphs.map((p) => "<p>" + p + "</p>").join("") +
    '<div style="height:2500px"></div><img id="lazy" width="200" height="100" data-later="pic.svg">';
  const lazy = document.getElementById("lazy");
  new IntersectionObserver((e, o) => { if (e[0].isIntersecting) { lazy.src = lazy.dataset.later; o.disconnect(); } })
    .observe(lazy);
});
</script></body></html>""",
    "scripted/article.json": '{"title": "An article its script writes", "paragraphs": ['
    + ", ".join(f'"Paragraph {i} of the article, written by its script."' for i in range(40))
    + "]}",
    "scripted/pic.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">'
    '<rect width="200" height="100" fill="#3a7"/></svg>',
}


def process_tree_pss(root: int) -> int:
    """PSS in bytes of ``root`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


class PeakMemory:
    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, process_tree_pss(os.getpid()))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def single_file_times(
    command: str, chromium: str, pages: list[str], urls: list[str]
) -> dict[str, float]:
    """Seconds single-file-cli takes for each page (whole CLI run), writing into a scratch folder."""
    times = {}
    with tempfile.TemporaryDirectory() as folder:
        for number, (page, url) in enumerate(zip(pages, urls, strict=True)):
            started = time.perf_counter()
            subprocess.run(
                [
                    command,
                    url,
                    str(Path(folder) / f"{number}.html"),
                    f"--browser-executable-path={chromium}",
                    '--browser-args=["--no-sandbox"]',
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=120,
                check=False,
            )
            times[page] = time.perf_counter() - started
    return times


def capture_once(url: str, base: str, engine: str, chromium: str | None) -> tuple[float, int]:
    policy = default_policy(allow_hosts=[base.split("://", 1)[1]])
    started = time.perf_counter()
    captured = capture(url, policy, engine=engine, chromium=chromium)
    elapsed = time.perf_counter() - started
    size = len(single_file(captured.archive)) if captured.archive is not None else 0
    return elapsed, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT_INLINING))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--single-file", help="the single-file command of single-file-cli (npm), for comparison"
    )
    args = parser.parse_args()
    root = corpus_or_exit(args.corpus, "capture engines")
    chromium = find_chromium(os.environ.get("KB_CHROMIUM", ""))
    if chromium is None:
        print("capture engines: no Chromium (apt-get install chromium, or KB_CHROMIUM); skipping.")
        raise SystemExit(0)
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder)
        os.symlink(root, site / "corpus")
        for name, text in SCRIPTED.items():
            (site / name).parent.mkdir(parents=True, exist_ok=True)
            (site / name).write_text(text)
        pages = [f"corpus/{p.relative_to(root).as_posix()}" for p in inlining_pages(root)]
        pages.append("scripted/article.html")
        with serve(site) as base:
            urls = [f"{base}/{page}" for page in pages]
            idle = process_tree_pss(os.getpid())
            started = time.perf_counter()
            capture_once(urls[-1], base, "browser", chromium)  # launches the browser
            first = time.perf_counter() - started
            capture_once(urls[-1], base, "static", chromium)
            times: dict[tuple[str, str], list[float]] = {}
            sizes: dict[tuple[str, str], int] = {}
            with PeakMemory() as memory:
                for _ in range(args.rounds):
                    for page, url in zip(pages, urls, strict=True):
                        for engine in ("static", "browser"):
                            elapsed, size = capture_once(url, base, engine, chromium)
                            times.setdefault((page, engine), []).append(elapsed)
                            sizes[(page, engine)] = size
            launches = shared_engine(chromium).launches
            single = {}
            if args.single_file:
                single = single_file_times(args.single_file, chromium, pages, urls)
    print(f"pages: {len(pages)}   rounds: {args.rounds}   chromium: {chromium}")
    print(f"first browser capture (launch included): {first:.2f} s; launches: {launches}")
    print(
        f"{'page':48} {'static ms':>10} {'browser ms':>11} {'ratio':>7} {'static KB':>10} "
        f"{'browser KB':>11} {'SingleFile ms':>14}"
    )
    static_all, browser_all = [], []
    for page in pages:
        static = statistics.median(times[(page, "static")]) * 1000
        browser = statistics.median(times[(page, "browser")]) * 1000
        static_all.append(static)
        browser_all.append(browser)
        other = f"{single[page] * 1000:14.0f}" if page in single else f"{'-':>14}"
        print(
            f"{page[-48:]:48} {static:10.0f} {browser:11.0f} {browser / max(static, 0.1):7.1f}"
            f" {sizes[(page, 'static')] / 1024:10.1f} {sizes[(page, 'browser')] / 1024:11.1f}"
            f" {other}"
        )
    print(
        f"mean per page: static {statistics.mean(static_all):.0f} ms, browser "
        f"{statistics.mean(browser_all):.0f} ms ({statistics.mean(browser_all) / statistics.mean(static_all):.1f}x)"
    )
    if single:
        mean_single = statistics.mean(single.values()) * 1000
        print(
            f"single-file-cli (a browser launched per page, as its CLI does): {mean_single:.0f} ms "
            f"a page; static is {mean_single / statistics.mean(static_all):.0f}x faster, browser "
            f"{mean_single / statistics.mean(browser_all):.1f}x faster"
        )
    print(
        f"memory (PSS of the worker and its processes): idle before the browser "
        f"{idle / 2**20:.0f} MB, peak while capturing {memory.peak / 2**20:.0f} MB"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
