"""A capture next to a host that never answers: time taken and good files kept.

Two pages on 127.0.0.1, captured with the real pipeline and the real timeouts (5 s connect,
15 s read, 60 s deadline):
- ``hung``: 8 files (2 stylesheets, 6 images) on a host that accepts connections and never
  answers, then a good stylesheet (with its font) and a good image;
- ``pixels``: 13 tracking pixels on that dead host, then the page's real image.

Each is captured as kb does (files side by side, ``capture.assets``) and, for comparison, with
one file at a time through the same guarded fetch (what kb did before issue 11).

    .venv/bin/python bench/slow_hosts.py
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from snapshots.capture.decode import decode  # noqa: E402
from snapshots.capture.fetch import fetch, new_session  # noqa: E402
from snapshots.capture.inline import inline  # noqa: E402
from snapshots.capture.pipeline import capture_page, default_policy  # noqa: E402

FONT = b"wOF2" + b"\x00" * 60
IMAGE = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
CSS = b'@font-face{font-family:Good;src:url(/good.woff2) format("woff2")}body{font-family:Good}'


def dead_host() -> int:
    """A listener that accepts every connection and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held = []

    def accept() -> None:
        while True:
            held.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1]


def good_host(pages: dict[str, bytes]) -> int:
    files = {
        "/good.css": ("text/css", CSS),
        "/good.woff2": ("font/woff2", FONT),
        "/good.gif": ("image/gif", IMAGE),
        **{path: ("text/html; charset=utf-8", body) for path, body in pages.items()},
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            kind, body = files.get(self.path, ("text/plain", b""))
            self.send_response(200 if self.path in files else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def one_at_a_time(url: str, policy):
    """The capture as before: each file fetched in turn, nothing remembered about hosts."""
    with new_session() as session:
        response = fetch(url, policy, session=session)
        asset_policy = replace(policy, accept="*/*")
        text = decode(response.body, response.headers.get("Content-Type")).text
        return inline(text, response.final_url, lambda u: fetch(u, asset_policy, session=session))


def main() -> None:
    dead = dead_host()
    hung = f"http://127.0.0.1:{dead}"
    pages = {
        "/hung.html": (
            f'<link rel="stylesheet" href="{hung}/a.css"><link rel="stylesheet" href="{hung}/b.css">'
            + "".join(f'<img src="{hung}/{i}.png">' for i in range(6))
            + '<link rel="stylesheet" href="/good.css"><p>Words</p><img src="/good.gif">'
        ).encode(),
        "/pixels.html": (
            "".join(f'<img src="{hung}/pixel.gif?n={i}" width="1" height="1">' for i in range(13))
            + '<p>Words</p><img src="/good.gif">'
        ).encode(),
    }
    good = good_host(pages)
    hosts = [f"127.0.0.1:{good}", f"127.0.0.1:{dead}"]
    print(f"{'page':8s} {'how':22s} {'seconds':>8s}  good files kept")
    for page in ("hung", "pixels"):
        url = f"http://127.0.0.1:{good}/{page}.html"
        wanted = 3 if page == "hung" else 1
        for how in ("kb (side by side)", "one at a time (before)"):
            policy = default_policy(allow_hosts=hosts)
            started = time.monotonic()
            if how.startswith("kb"):
                archive = capture_page(url, policy).archive
            else:
                archive = one_at_a_time(url, policy)
            seconds = time.monotonic() - started
            bodies = [asset.body for asset in archive.assets.values()]
            kept = sum(
                [IMAGE in bodies, FONT in bodies, any(b"Good" in b for b in bodies)][:wanted]
            )
            print(f"{page:8s} {how:22s} {seconds:8.1f}  {kept}/{wanted}")


if __name__ == "__main__":
    main()
