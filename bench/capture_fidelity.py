"""Capture fidelity: how much does an archive, opened with the network off, differ from the live page?

Every page of the inlining corpus plus the pages in ``bench/pages/`` that need their scripts and
frames (served together on 127.0.0.1) is archived, in one run, by each tool:

- ``kb static`` and ``kb browser``: the real pipeline (``snapshots.capture.engines``), allowed to
  reach only the local server; the browser engine in one warm worker (one browser, reused);
- ``SingleFile``: single-file-cli (npm) driving the same Debian Chromium, headless, one CLI run per
  page, at 1280×800 with the network off but for 127.0.0.1 (skipped, with a word, when absent).

Then the live page (scrolled through first, so its lazy images load; only 127.0.0.1 reachable) and
each archive are screenshotted in headless Chromium with a 1280×800 viewport, whole page, and the
pixels whose colour differs by more than a small threshold are counted. Each archive is served to
the browser exactly as kb serves its own (the archive CSP included) from a route that blocks — and
counts — every other request. Reported per tool and per page group: mean and worst difference,
seconds per page (of this run; ``capture_speed.py`` times them properly), and archives that failed
or came out empty (no text and no picture).

    .venv/bin/python bench/capture_fidelity.py [../shared/corpora/inlining] [--threshold 24]
        [--single-file PATH]   # default: $SINGLE_FILE, on PATH, or /tmp/sf/node_modules/.bin/single-file
        [--tools static,browser,singlefile] [--save-dir DIR]   # keep every screenshot

Goals (issue 11): the browser engine's mean ≤ SingleFile's and its worst < 5 %; kb never writes
an empty archive.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _corpus import (
    DEFAULT_INLINING,
    OFFLINE_ARGS,
    capture,
    corpus_or_exit,
    find_single_file,
    group_of,
    run_single_file,
    serve,
    site_with_pages,
)
from capture_engines import SCRIPTED

from snapshots.capture.errors import CaptureError
from snapshots.capture.pipeline import single_file

VIEWPORT = {"width": 1280, "height": 800}
TOOLS = {"static": "kb static", "browser": "kb browser", "singlefile": "SingleFile"}
ARCHIVE_URL = "http://archive.kb.invalid/archive/"
ARCHIVE_CSP = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline' data:; font-src data:"
)
DECODE_PNG = """async (b64) => {
  const img = new Image();
  img.src = "data:image/png;base64," + b64;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let text = "";
  for (let i = 0; i < data.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
  }
  return [canvas.width, canvas.height, btoa(text)];
}"""


def pixels(decoder, png: bytes) -> np.ndarray:
    """PNG → H×W×4 uint8, decoded by the browser (no imaging library needed)."""
    width, height, raw = decoder.evaluate(DECODE_PNG, base64.b64encode(png).decode("ascii"))
    return np.frombuffer(base64.b64decode(raw), dtype=np.uint8).reshape(height, width, 4)


def difference(a: np.ndarray, b: np.ndarray, threshold: int) -> float:
    """Share of pixels whose largest channel difference exceeds ``threshold`` (0–255)."""
    height = max(a.shape[0], b.shape[0])
    width = max(a.shape[1], b.shape[1])
    canvas_a = np.full((height, width, 3), 255, dtype=np.int16)
    canvas_b = canvas_a.copy()
    canvas_a[: a.shape[0], : a.shape[1]] = a[..., :3]
    canvas_b[: b.shape[0], : b.shape[1]] = b[..., :3]
    changed = np.abs(canvas_a - canvas_b).max(axis=2) > threshold
    return float(changed.mean())


def offline_route(html: str, blocked: list[str]):
    """Serve the archive at ARCHIVE_URL as kb does; abort (and note) every other request."""

    def handle(route) -> None:
        if route.request.url == ARCHIVE_URL:
            route.fulfill(
                status=200,
                body=html.encode("utf-8"),
                headers={
                    "Content-Type": "text/html; charset=utf-8",
                    "Content-Security-Policy": ARCHIVE_CSP,
                },
            )
        else:
            blocked.append(route.request.url)
            route.abort()

    return handle


SCROLL_THROUGH = """async () => {
  for (let y = 0; y < document.documentElement.scrollHeight; y += 700) {
    window.scrollTo(0, y);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  window.scrollTo(0, 0);
}"""
# A page that shows nothing: no text and no picture of any kind. An archive that shows nothing
# of a live page that shows something is an empty archive (a few corpus pages are blank live).
IS_EMPTY = """() => !document.body || (document.body.innerText.trim() === "" &&
  !document.querySelector("img, svg, canvas, video, picture, iframe, object, embed"))"""


def settle(page) -> None:
    from playwright.sync_api import TimeoutError as Timeout

    # a page that keeps the network busy is screenshotted as it is
    with contextlib.suppress(Timeout):
        page.wait_for_load_state("networkidle", timeout=15000)
    page.evaluate("document.fonts.ready.then(() => true)")


def live_route(base: str, blocked: list[str]):
    """The live page may reach the local server only."""

    def handle(route) -> None:
        if route.request.url.startswith(base + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    return handle


@dataclass
class Result:
    page: str
    tool: str
    share: float = 1.0  # a failed archive counts as all different
    seconds: float = 0.0
    failed: str = ""  # why no archive was written
    empty: bool = False
    blocked: int = 0


def kb_archive(url: str, base: str, engine: str) -> tuple[str | None, str]:
    """kb's single-file archive of ``url`` (or None) and why there is none."""
    try:
        captured = capture(url, base, engine)
    except CaptureError as error:
        return None, str(error)
    if captured.archive is None:
        return None, f"not HTML ({captured.document.content_type})"
    return single_file(captured.archive), ""


def screenshot_archive(browser, html: str) -> tuple[bytes, bool, int]:
    """The archive's screenshot, whether it is empty, and how many requests it tried."""
    blocked: list[str] = []
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.route("**/*", offline_route(html, blocked))
    page = context.new_page()
    page.goto(ARCHIVE_URL)
    settle(page)
    empty = page.evaluate(IS_EMPTY)
    png = page.screenshot(full_page=True, animations="disabled")
    context.close()
    return png, empty, len(blocked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT_INLINING))
    parser.add_argument(
        "--threshold", type=int, default=24, help="colour difference that counts (0-255)"
    )
    parser.add_argument("--save-dir", help="write live/archive screenshots here")
    parser.add_argument("--single-file", default="", help="single-file-cli's command (npm)")
    parser.add_argument("--tools", default="static,browser,singlefile", help="which to compare")
    args = parser.parse_args()
    root = corpus_or_exit(args.corpus, "capture fidelity")
    chromium = os.environ.get("KB_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        print("capture fidelity: no Chromium found (apt-get install chromium); skipping.")
        return
    tools = [tool for tool in args.tools.split(",") if tool in TOOLS]
    single_file_command = find_single_file(args.single_file)
    if "singlefile" in tools and single_file_command is None:
        print(
            "capture fidelity: single-file-cli not found (npm install single-file-cli); "
            "SingleFile skipped."
        )
        tools.remove("singlefile")
    save = Path(args.save_dir) if args.save_dir else None
    if save:
        save.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    results: list[Result] = []
    scratch = tempfile.TemporaryDirectory()
    site = Path(scratch.name) / "site"
    site.mkdir()
    outputs = Path(scratch.name) / "singlefile"
    outputs.mkdir()
    pages = site_with_pages(root, site, SCRIPTED)
    with serve(site) as base, sync_playwright() as playwright:
        for engine in ("static", "browser"):  # warm: imports, the worker's browser
            if engine in tools:
                kb_archive(f"{base}/{pages[-1]}", base, engine)
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=[*OFFLINE_ARGS, "--disable-gpu", "--font-render-hinting=none"],
        )
        decoder = browser.new_page()
        for number, name in enumerate(pages):
            url = f"{base}/{name}"
            live_context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            live_blocked: list[str] = []
            live_context.route("**/*", live_route(base, live_blocked))
            live = live_context.new_page()
            live.goto(url)
            settle(live)
            live.evaluate(SCROLL_THROUGH)
            settle(live)
            live_blank = live.evaluate(IS_EMPTY)
            live_png = live.screenshot(full_page=True, animations="disabled")
            live_context.close()
            live_pixels = pixels(decoder, live_png)
            stem = name.replace("/", "__").removesuffix(".html")
            if save:
                (save / f"{stem}.live.png").write_bytes(live_png)

            line = []
            for tool in tools:
                result = Result(name, tool)
                started = time.perf_counter()
                if tool == "singlefile":
                    output = outputs / f"{number}.html"
                    result.seconds, result.failed = run_single_file(
                        single_file_command, chromium, url, output
                    )
                    html = output.read_text("utf-8", "replace") if not result.failed else None
                else:
                    html, result.failed = kb_archive(url, base, tool)
                    result.seconds = time.perf_counter() - started
                if html is not None and not html.strip():
                    result.empty = True
                elif html is not None:
                    png, blank, result.blocked = screenshot_archive(browser, html)
                    result.empty = blank and not live_blank
                    result.share = difference(live_pixels, pixels(decoder, png), args.threshold)
                    if save:
                        (save / f"{stem}.{tool}.png").write_bytes(png)
                results.append(result)
                note = " FAILED" if result.failed else " EMPTY" if result.empty else ""
                line.append(
                    f"{TOOLS[tool]} {result.share * 100:6.2f} % {result.seconds:5.1f} s{note}"
                )
            print(f"{name[-50:]:50s} " + " | ".join(line), flush=True)
        browser.close()
    scratch.cleanup()
    report(results, tools, args.threshold)


def report(results: list[Result], tools: list[str], threshold: int) -> None:
    if not results:
        print("no pages")
        return
    groups = sorted({group_of(r.page) for r in results})
    pages = len({r.page for r in results})
    print()
    print(f"pages: {pages}   threshold: {threshold}/255   viewport 1280x800, whole page")
    print(
        f"{'tool':11} {'mean %':>7} {'worst %':>8} {'s/page':>7} {'failed':>7} {'empty':>6}  worst page"
    )
    for tool in tools:
        mine = [r for r in results if r.tool == tool]
        worst = max(mine, key=lambda r: r.share)
        print(
            f"{TOOLS[tool]:11} {statistics.mean(r.share for r in mine) * 100:7.3f} "
            f"{worst.share * 100:8.3f} {statistics.mean(r.seconds for r in mine):7.2f} "
            f"{sum(bool(r.failed) for r in mine):7d} {sum(r.empty for r in mine):6d}  {worst.page}"
        )
    for tool in tools:
        written = [r.share for r in results if r.tool == tool and not r.failed]
        if written and len(written) < len([r for r in results if r.tool == tool]):
            print(
                f"{TOOLS[tool]} over the {len(written)} archives it wrote: mean "
                f"{statistics.mean(written) * 100:.3f} %, worst {max(written) * 100:.3f} %"
            )
    print()
    print("mean / worst pixel difference (%) per page group:")
    print(f"{'group':20} {'pages':>5} " + " ".join(f"{TOOLS[t]:>16}" for t in tools))
    for group in groups:
        cells = []
        for tool in tools:
            mine = [r.share for r in results if r.tool == tool and group_of(r.page) == group]
            cells.append(f"{statistics.mean(mine) * 100:7.3f} / {max(mine) * 100:6.3f}")
        count = len({r.page for r in results if group_of(r.page) == group})
        print(f"{group:20} {count:5d} " + " ".join(f"{c:>16}" for c in cells))
    failures = [r for r in results if r.failed]
    for r in failures:
        print(f"failed: {TOOLS[r.tool]} {r.page}: {r.failed}")
    print(f"network requests from archives: {sum(r.blocked for r in results)}")
    print(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    sys.exit(main())
