"""A slow or dead host cannot cost a capture the files of the hosts that answer.

The page and its good files are served on 127.0.0.1; a "dead" host is a listener that accepts
connections and never answers (what a hung tracker or CDN looks like). Captures run through
the real pipeline (``capture_page``) with the real timeouts unless a test says otherwise.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from snapshots.capture import assets
from snapshots.capture.collector import Limits
from snapshots.capture.pipeline import capture_page, default_policy
from tests.support.images import gif, png
from tests.support.servers import LocalHTTPServer, TcpListener

pytestmark = pytest.mark.network

FONT = b"wOF2" + b"\x00" * 60  # sniffed by its signature
IMAGE = png(3, 2, (200, 10, 10))


@pytest.fixture
def server():
    with LocalHTTPServer() as server:
        yield server


@pytest.fixture
def dead_host():
    with TcpListener() as listener:
        yield listener


def serve_good_files(server: LocalHTTPServer) -> None:
    css = (
        '@font-face { font-family: "Good Sans"; src: url(/good.woff2) format("woff2") }\n'
        'body { font-family: "Good Sans", sans-serif; color: #123 }\n'
    )
    server.route("/good.css", body=css.encode(), headers={"Content-Type": "text/css"})
    server.route("/good.woff2", body=FONT, headers={"Content-Type": "font/woff2"})
    server.route("/good.png", body=IMAGE, headers={"Content-Type": "image/png"})


def serve_page(server: LocalHTTPServer, head: str, body: str) -> str:
    page = f"<!doctype html><html><head><title>Slow</title>{head}</head><body>{body}</body></html>"
    server.route("/", body=page.encode(), headers={"Content-Type": "text/html; charset=utf-8"})
    return server.url("/")


def kept_bodies(captured) -> list[bytes]:
    return [asset.body for asset in captured.archive.assets.values()]


def test_good_stylesheet_font_and_image_survive_a_host_that_never_answers(server, dead_host):
    serve_good_files(server)
    dead = f"http://127.0.0.1:{dead_host.port}"
    hung = "".join(f'<img src="{dead}/hung-{i}.png" alt="">' for i in range(6))
    url = serve_page(
        server,
        # the dead host comes first in the page, as an ad or tracker script often does
        f'<link rel="stylesheet" href="{dead}/hung.css"><link rel="stylesheet" href="{dead}/x.css">'
        '<link rel="stylesheet" href="/good.css">',
        f'{hung}<p>Words</p><img src="/good.png" alt="good">',
    )
    policy = default_policy(allow_hosts=[f"127.0.0.1:{server.port}", f"127.0.0.1:{dead_host.port}"])

    started = time.monotonic()
    captured = capture_page(url, policy)
    seconds = time.monotonic() - started

    bodies = kept_bodies(captured)
    assert IMAGE in bodies
    assert FONT in bodies
    assert any(b"Good Sans" in body for body in bodies)
    assert captured.archive.failed == 8
    assert seconds < 20
    # two tries (its share of the downloads) told that the host is dead; nobody asked again
    assert dead_host.connection_count <= 2


def test_thirteen_tracking_pixels_on_a_dead_host_do_not_cost_the_real_image(server, dead_host):
    server.route("/photo.png", body=IMAGE, headers={"Content-Type": "image/png"})
    dead = f"http://127.0.0.1:{dead_host.port}"
    pixels = "".join(f'<img src="{dead}/pixel.gif?n={i}" width="1" height="1">' for i in range(13))
    url = serve_page(server, "", f'{pixels}<img src="/photo.png" alt="photo">')
    policy = default_policy(
        allow_hosts=[f"127.0.0.1:{server.port}", f"127.0.0.1:{dead_host.port}"],
        read_timeout=2.0,
    )

    started = time.monotonic()
    captured = capture_page(url, policy)

    assert IMAGE in kept_bodies(captured)
    assert time.monotonic() - started < 10  # one timeout, not thirteen
    assert dead_host.connection_count <= 2
    sentences = {sentence for _, sentence in captured.archive.failures}
    assert any("failed earlier in this capture" in sentence for sentence in sentences)


def test_refused_host_is_not_asked_again(server):
    with socket.socket() as closed:  # a port nobody listens on: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    server.route("/photo.png", body=IMAGE, headers={"Content-Type": "image/png"})
    missing = "".join(f'<img src="http://127.0.0.1:{port}/{i}.png">' for i in range(5))
    url = serve_page(server, "", f'{missing}<img src="/photo.png">')
    policy = default_policy(allow_hosts=[f"127.0.0.1:{server.port}", f"127.0.0.1:{port}"])

    captured = capture_page(url, policy)

    assert IMAGE in kept_bodies(captured)
    sentences = [sentence for _, sentence in captured.archive.failures]
    assert len(sentences) == 5
    assert sum("refused" in sentence for sentence in sentences) == 5
    assert sum("failed earlier in this capture" in sentence for sentence in sentences) >= 3


def test_one_slow_file_on_a_host_that_answers_does_not_cost_its_other_files(server):
    serve_good_files(server)
    server.route("/slow.png", body=IMAGE, delay=3.0, headers={"Content-Type": "image/png"})
    url = serve_page(
        server,
        '<link rel="stylesheet" href="/good.css">',
        '<img src="/slow.png"><img src="/good.png">',
    )
    policy = default_policy(allow_hosts=[f"127.0.0.1:{server.port}"], read_timeout=1.0)

    captured = capture_page(url, policy)

    bodies = kept_bodies(captured)
    assert IMAGE in bodies
    assert FONT in bodies
    assert [url for url, _ in captured.archive.failures] == [server.url("/slow.png")]


def test_each_host_name_is_looked_up_once_per_capture(server, monkeypatch):
    for i in range(5):
        server.route(f"/{i}.gif", body=gif((i, i, i)), headers={"Content-Type": "image/gif"})
    images = "".join(f'<img src="http://assets.test:{server.port}/{i}.gif">' for i in range(5))
    url = serve_page(server, "", images).replace("127.0.0.1", "assets.test")
    lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "assets.test":
            lookups.append(host)
            return real_getaddrinfo("127.0.0.1", port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    captured = capture_page(url, default_policy(allow_hosts=["assets.test"]))

    assert captured.archive.inlined == 5
    assert lookups == ["assets.test"]


def test_asset_budget_counts_files_kept_not_attempts(server):
    server.route("/a.png", body=IMAGE, headers={"Content-Type": "image/png"})
    server.route("/b.gif", body=gif(), headers={"Content-Type": "image/gif"})
    missing = "".join(f'<img src="/missing-{i}.png">' for i in range(4))
    url = serve_page(server, "", f'{missing}<img src="/a.png"><img src="/b.gif">')
    policy = default_policy(allow_hosts=[f"127.0.0.1:{server.port}"])

    captured = capture_page(url, policy, Limits(max_assets=2))

    assert captured.archive.inlined == 2
    assert IMAGE in kept_bodies(captured)


def test_downloads_run_side_by_side_but_at_most_two_per_host(server):
    running, most = 0, 0
    lock = threading.Lock()

    def slow_image(handler, owner):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.3)
        with lock:
            running -= 1
        body = gif()
        handler.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: image/gif\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    for i in range(6):
        server.route(f"/{i}.gif", handler=slow_image)
    url = serve_page(server, "", "".join(f'<img src="/{i}.gif">' for i in range(6)))
    policy = default_policy(allow_hosts=[f"127.0.0.1:{server.port}"])

    captured = capture_page(url, policy)

    assert captured.archive.failed == 0
    assert most == 2


def test_the_pages_deadline_ends_every_download(server, dead_host):
    dead = f"http://127.0.0.1:{dead_host.port}"
    server.route("/photo.png", body=IMAGE, headers={"Content-Type": "image/png"})
    url = serve_page(server, "", f'<img src="{dead}/a.png"><img src="/photo.png">')
    policy = default_policy(
        allow_hosts=[f"127.0.0.1:{server.port}", f"127.0.0.1:{dead_host.port}"], seconds=3.0
    )

    started = time.monotonic()
    captured = capture_page(url, policy)

    assert time.monotonic() - started < 6  # not the 15 s read timeout
    assert IMAGE in kept_bodies(captured)
    assert captured.archive.failures == [
        (f"{dead}/a.png", "the capture did not finish within the time allowed")
    ]


def test_a_failure_reading_a_stylesheet_never_costs_the_stylesheet(server, monkeypatch):
    def broken(self, url, response):
        raise RuntimeError("a bug while naming the stylesheet's files")

    monkeypatch.setattr(assets.AssetFetcher, "_scout_stylesheet", broken)
    serve_good_files(server)
    url = serve_page(server, '<link rel="stylesheet" href="/good.css">', "<p>Words</p>")

    captured = capture_page(url, default_policy(allow_hosts=[f"127.0.0.1:{server.port}"]))

    assert any(b"Good Sans" in body for body in kept_bodies(captured))
    assert FONT in kept_bodies(captured)


def test_files_of_a_frame_of_the_same_site_download_side_by_side(server):
    """The first walk names the files of a frame it will keep, as it does the page's own: the
    frame's four images on a slow host do not wait for each other."""
    running, most = 0, 0
    lock = threading.Lock()

    def slow_image(handler, owner):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        owner.stopping.wait(0.3)
        with lock:
            running -= 1
        body = gif()
        handler.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: image/gif\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    with LocalHTTPServer() as slow_host:
        for i in range(4):
            slow_host.route(f"/{i}.gif", handler=slow_image)
        images = "".join(f'<img src="{slow_host.url(f"/{i}.gif")}" alt="">' for i in range(4))
        frame = f"<!doctype html><html><body><p>In the frame</p>{images}</body></html>"
        server.route(
            "/frame.html", body=frame.encode(), headers={"Content-Type": "text/html; charset=utf-8"}
        )
        url = serve_page(server, "", '<p>Page</p><iframe src="/frame.html"></iframe>')
        policy = default_policy(
            allow_hosts=[f"127.0.0.1:{server.port}", f"127.0.0.1:{slow_host.port}"]
        )

        captured = capture_page(url, policy)

    assert captured.archive.failed == 0
    assert "In the frame" in captured.archive.html
    assert captured.archive.inlined == 4  # the frame's four images
    assert most == 2  # as many as one host may serve at once, not one after another
