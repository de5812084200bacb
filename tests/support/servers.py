"""Local servers for tests: a small routed HTTP(S) server and a raw TCP listener.

Both listen on a loopback address (``127.0.0.1`` unless told otherwise; any ``127.x.y.z`` works
on Linux) and an ephemeral port, run in daemon threads, and count what reaches them, so a test
can prove that a request was made — or that *nothing* was sent somewhere.

``LocalHTTPServer`` — a threaded ``http.server`` speaking HTTP/1.1::

    with LocalHTTPServer() as server:
        server.route("/page", body=b"<p>hi</p>", headers={"Content-Type": "text/html"})
        server.route("/old", status=301, headers={"Location": "/page"})   # or server.redirect()
        server.route("/endless", body=lambda: iter(lambda: b"x" * 65536, None))
        server.route("/slow", delay=5.0, body=b"late")     # waits before the status line
        server.route("/raw", handler=my_handler)          # my_handler(request_handler, server)
        requests.get(server.url("/page"))
        assert server.request_count == 1 and server.connection_count == 1
        assert server.requests[0].headers["host"] == f"127.0.0.1:{server.port}"

- ``body`` is ``bytes`` (sent with a Content-Length unless ``headers`` sets one — a test may
  declare a length it never sends) or a zero-argument callable returning an iterable of
  ``bytes`` chunks (a generator function), sent chunked, or close-delimited with
  ``chunked=False``. The callable is called once per request, so endless generators are fine.
- Waits in routes (``delay``, slow generators) should use ``server.stopping.wait(seconds)``:
  ``close()`` sets that event, so no thread outlives the test by more than a moment.
- Unknown paths answer 404. Paths are matched without the query string.
- ``requests`` records each request (method, path with query, lowercased headers);
  ``connection_count`` counts accepted TCP connections (keep-alive may serve several requests
  on one).
- ``LocalHTTPServer(tls=context)`` serves HTTPS with a server-side ``ssl.SSLContext``;
  ``make_tls_files(tmp_path, "site.test")`` writes a self-signed certificate for the given
  names with the ``openssl`` command line tool (tests that need it can skip when it is missing).
- ``LocalHTTPServer(host="127.0.0.2", port=other.port)`` binds a second loopback address on the
  same port, handy for proving which address a client dialled.

``TcpListener`` — accepts connections, reads whatever arrives, never answers (unless ``reply``
is given), and counts ``connection_count`` and ``bytes_received``. Use it as the "refused
address" in SSRF tests: after the test, both must be 0.

Both are context managers; ``close()`` is idempotent. To use them as pytest fixtures::

    @pytest.fixture
    def server():
        with LocalHTTPServer() as server:
            yield server
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "LocalHTTPServer",
    "RecordedRequest",
    "Route",
    "TcpListener",
    "make_tls_files",
    "server_tls_context",
]

Body = bytes | Callable[[], Iterable[bytes]]
Handler = Callable[[BaseHTTPRequestHandler, "LocalHTTPServer"], None]


@dataclass
class Route:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: Body = b""
    chunked: bool = True
    delay: float = 0.0
    handler: Handler | None = None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    client: tuple[str, int]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 10  # an idle keep-alive connection ends by itself

    def do_GET(self) -> None:
        owner = self.server.owner
        owner._record(self)
        route = owner._routes.get(urlsplit(self.path).path)
        if route is None:
            route = Route(404, [("Content-Type", "text/plain")], b"not found")
        if route.delay and owner.stopping.wait(route.delay):
            self.close_connection = True
            return
        if route.handler is not None:
            self.close_connection = True
            route.handler(self, owner)
            return
        self._send(route)

    do_HEAD = do_GET

    def _send(self, route: Route) -> None:
        self.send_response(route.status)
        names = {name.lower() for name, _ in route.headers}
        for name, value in route.headers:
            self.send_header(name, value)
        if isinstance(route.body, bytes):
            if "content-length" not in names:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(route.body)
            return
        chunked = route.chunked and "content-length" not in names
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        for chunk in route.body():
            if self.server.owner.stopping.is_set():
                break
            if not chunk:
                continue
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                self.wfile.write(chunk)
            self.wfile.flush()
        else:
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
            return
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LocalHTTPServer

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.owner.tls is not None:
            # The handshake happens on the first read, in the handler thread, not in accept().
            sock = self.owner.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.owner._lock:
            self.owner.connection_count += 1
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        with self.owner._lock:
            self.owner.errors.append(sys.exc_info()[1])


class LocalHTTPServer:
    """A routed HTTP/1.1 server on a loopback address; see the module docstring."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None
    ) -> None:
        self.tls = tls
        self.stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException | None] = []
        self.connection_count = 0
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.owner = self
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        self._closed = False

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def url(self, path: str = "/", *, host: str | None = None) -> str:
        """The URL of ``path`` here; ``host`` replaces the address (e.g. a name or a spelling)."""
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def route(
        self,
        path: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: Body = b"",
        chunked: bool = True,
        delay: float = 0.0,
        handler: Handler | None = None,
    ) -> None:
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        self._routes[path] = Route(status, pairs, body, chunked, delay, handler)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.route(path, status=status, headers={"Location": location})

    def _record(self, handler: BaseHTTPRequestHandler) -> None:
        headers = {name.lower(): value for name, value in handler.headers.items()}
        entry = RecordedRequest(handler.command, handler.path, headers, handler.client_address)
        with self._lock:
            self.requests.append(entry)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalHTTPServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class TcpListener:
    """Accepts TCP connections and counts them and the bytes they send; answers only ``reply``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, reply: bytes = b"") -> None:
        self.reply = reply
        self.connection_count = 0
        self.bytes_received = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._socket = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM
        )
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self._socket.listen(16)
        self._socket.settimeout(0.05)
        self.host, self.port = self._socket.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connection_count += 1
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        replied = False
        with conn:
            while not self._stopping.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                with self._lock:
                    self.bytes_received += len(data)
                if self.reply and not replied:
                    conn.sendall(self.reply)
                    replied = True

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def __enter__(self) -> TcpListener:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def make_tls_files(directory: Path, *names: str) -> tuple[Path, Path]:
    """Write a self-signed certificate for ``names`` (DNS names or IPs) and its key.

    Returns ``(cert_path, key_path)``; the certificate is its own CA, so a client can trust it
    with ``verify=cert_path``. Needs the ``openssl`` tool; raises ``FileNotFoundError`` without.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    alt_names = ",".join(
        f"IP:{name}" if name.replace(".", "").isdigit() or ":" in name else f"DNS:{name}"
        for name in names
    )
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={names[0]}",
            "-addext",
            f"subjectAltName={alt_names}",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context for ``LocalHTTPServer(tls=...)``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
