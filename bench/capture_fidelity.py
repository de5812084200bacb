"""Capture fidelity: how much does an archive, opened with the network off, differ from the live page?

For each page of the inlining corpus (served on 127.0.0.1): capture it with the real pipeline,
screenshot the live page and the assembled archive in headless Chromium at 1280×2000, and count
the pixels whose colour differs by more than a small threshold. The archive is served to the
browser exactly as kb serves it (the archive CSP included) from a route that also blocks — and
counts — every other request, so anything the archive still needs from the network shows.

    .venv/bin/python bench/capture_fidelity.py [../shared/corpora/inlining] [--threshold 24]
        [--save-dir DIR]   # keep both screenshots of each page

Goals (issue 3): mean < 1 %, worst < 5 %.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from _corpus import DEFAULT_INLINING, capture, corpus_or_exit, inlining_pages, serve
from capture_engines import SCRIPTED

from snapshots.capture.errors import CaptureError
from snapshots.capture.pipeline import single_file

VIEWPORT = {"width": 1280, "height": 2000}
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


def settle(page) -> None:
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready.then(() => true)")


def with_scripted_pages(corpus: Path, folder: Path) -> Path:
    """A folder holding the corpus and the script-built pages of ``capture_engines``."""
    shutil.copytree(corpus, folder / "corpus")  # rglob does not follow a symlink
    for name, text in SCRIPTED.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT_INLINING))
    parser.add_argument(
        "--threshold", type=int, default=24, help="colour difference that counts (0-255)"
    )
    parser.add_argument("--save-dir", help="write live/archive screenshots here")
    parser.add_argument(
        "--engine", choices=["static", "browser", "auto"], default="static", help="kb's engine"
    )
    parser.add_argument(
        "--scripted",
        action="store_true",
        help="add a page its scripts build (capture_engines.SCRIPTED) to the corpus",
    )
    args = parser.parse_args()
    root = corpus_or_exit(args.corpus, "capture fidelity")
    scratch = None
    if args.scripted:
        scratch = tempfile.TemporaryDirectory()
        root = with_scripted_pages(root, Path(scratch.name))
    chromium = os.environ.get("KB_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        print("capture fidelity: no Chromium found (apt-get install chromium); skipping.")
        return
    save = Path(args.save_dir) if args.save_dir else None
    if save:
        save.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    results: list[tuple[str, float, int, int]] = []
    with serve(root) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--font-render-hinting=none"],
        )
        decoder = browser.new_page()
        for path in inlining_pages(root):
            name = path.relative_to(root).as_posix()
            url = f"{base}/{name}"
            try:
                captured = capture(url, base, args.engine)
            except CaptureError as error:  # a page that cannot be captured counts as all different
                print(f"{name:55s} capture failed: {error}")
                results.append((name, 1.0, 0, 0))
                continue
            if captured.archive is None:
                print(f"{name:55s} not HTML ({captured.document.content_type}); skipped")
                continue
            archive_html = single_file(captured.archive)

            live_context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            live = live_context.new_page()
            live.goto(url)
            settle(live)
            live_png = live.screenshot()
            live_context.close()

            blocked: list[str] = []
            archive_context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)

            archive_context.route("**/*", offline_route(archive_html, blocked))
            archived = archive_context.new_page()
            archived.goto(ARCHIVE_URL)
            settle(archived)
            archive_png = archived.screenshot()
            archive_context.close()

            share = difference(
                pixels(decoder, live_png), pixels(decoder, archive_png), args.threshold
            )
            results.append((name, share, len(blocked), captured.archive.failed))
            flag = "" if share < 0.05 else "  <-- over 5 %"
            print(
                f"{name:55s} {share * 100:6.2f} %  assets {captured.archive.inlined:3d} inlined, "
                f"{captured.archive.failed} failed, {len(blocked)} network requests blocked{flag}"
            )
            if save:
                stem = name.replace("/", "__").removesuffix(".html")
                (save / f"{stem}.live.png").write_bytes(live_png)
                (save / f"{stem}.archive.png").write_bytes(archive_png)
        browser.close()

    shares = [share for _, share, _, _ in results]
    if not shares:
        print("no pages")
        return
    worst = max(results, key=lambda r: r[1])
    print()
    print(f"engine: {args.engine}")
    print(f"pages: {len(shares)}   threshold: {args.threshold}/255   viewport: 1280x2000")
    print(f"mean pixel difference:  {statistics.mean(shares) * 100:.3f} %   (goal < 1 %)")
    print(f"worst pixel difference: {worst[1] * 100:.3f} %   ({worst[0]}; goal < 5 %)")
    print(f"network requests from archives: {sum(r[2] for r in results)}")


if __name__ == "__main__":
    sys.exit(main())
