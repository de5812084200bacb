"""A kept-alive connection the server closed while it sat idle costs nothing: the GET is sent
again on another connection, as a browser does; a server that closes every connection still
fails, after a few quick tries, and a slow answer is never asked for twice.

Servers run on 127.0.0.1 (a raw socket server here, ``LocalHTTPServer`` for the slow answer).
"""

from __future__ import annotations

import socket

import pytest

from snapshots.capture.errors import ConnectionFailed, FetchTimeout
from snapshots.capture.fetch import FetchPolicy, fetch, new_session
from tests.support.servers import LocalHTTPServer, TcpListener

pytestmark = pytest.mark.network


class ClosesIdleConnections(TcpListener):
    """Answers the first request of each connection (keeping it alive), then closes the
    connection, unanswered, as soon as a second request arrives on it: a server whose idle
    timeout struck just as the client reused the connection. ``answer_none`` closes every
    connection before answering anything."""

    def __init__(self, *, answer_none: bool = False) -> None:
        self.answer_none = answer_none
        self.requests = 0
        super().__init__()

    @property
    def connections(self) -> int:
        return self.connection_count

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _drain(self, conn: socket.socket) -> None:  # each accepted connection, in its thread
        conn.settimeout(5)
        with conn:
            for served in range(2):
                if not self._read_request(conn):
                    return
                if served == 1 or self.answer_none:
                    return  # closed with the request unanswered
                body = b"<p>kept alive</p>"
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )

    def _read_request(self, conn: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            try:
                chunk = conn.recv(4096)
            except OSError:
                return False
            if not chunk:
                return False
            data += chunk
        with self._lock:
            self.requests += 1
        return True


@pytest.fixture
def closing():
    server = ClosesIdleConnections()
    yield server
    server.close()


def policy_for(port: int) -> FetchPolicy:
    return FetchPolicy(
        allow_hosts=frozenset({f"127.0.0.1:{port}"}), connect_timeout=2.0, read_timeout=2.0
    )


def test_a_connection_closed_while_idle_is_replaced_and_the_page_arrives(closing):
    policy = policy_for(closing.port)
    session = new_session()
    try:
        bodies = [fetch(closing.url(f"/{n}"), policy, session=session).body for n in range(3)]
    finally:
        session.close()
    assert bodies == [b"<p>kept alive</p>"] * 3
    # the second and third went first to the kept connection, which the server closed
    assert closing.connections == 3
    assert closing.requests == 5


def test_a_server_that_closes_every_connection_fails_after_a_few_tries():
    server = ClosesIdleConnections(answer_none=True)
    try:
        with pytest.raises(ConnectionFailed) as caught:
            fetch(server.url("/"), policy_for(server.port))
    finally:
        server.close()
    assert (
        caught.value.sentence == "could not connect to 127.0.0.1: the server closed the connection"
    )
    assert caught.value.transient
    assert 1 < server.connections <= 5  # the adapter's pool size of stale ones, plus a fresh one


def test_a_server_too_slow_to_answer_is_asked_once():
    with LocalHTTPServer() as server:
        server.route("/slow", delay=3.0, body=b"late")
        policy = FetchPolicy(allow_hosts=frozenset({f"127.0.0.1:{server.port}"}), read_timeout=0.5)
        with pytest.raises(FetchTimeout):
            fetch(server.url("/slow"), policy)
        assert server.request_count == 1
