"""snapshots.capture.fetch: the SSRF guard, IP pinning, redirects, limits and typed errors.

Every test runs on a fake network (the ``network`` fixture): names resolve only from its table,
and a socket may connect only to loopback — any other address is recorded and refused (or made
to time out), so nothing here can reach the internet, and a test can assert what was dialled.
"""

from __future__ import annotations

import gzip
import ipaddress
import pickle
import socket
import struct
import time
import tracemalloc
import zlib
from collections import Counter
from functools import cache

import brotli
import pytest
import requests
from backports import zstd

from snapshots.capture.errors import (
    BlockedAddress,
    CaptureError,
    ConnectionFailed,
    DamagedResponse,
    FetchTimeout,
    HTTPStatusError,
    InvalidURL,
    TooLarge,
    TooManyRedirects,
    UnsupportedScheme,
)
from snapshots.capture.fetch import FetchPolicy, fetch, new_session, parse_content_type
from snapshots.capture.guard import parse_ipv4_spelling, refusal_reason
from tests.support.servers import (
    LocalHTTPServer,
    TcpListener,
    make_tls_files,
    server_tls_context,
)

pytestmark = pytest.mark.network  # local servers on 127.0.0.1 (and 127.0.0.2)

PUBLIC_IP = "93.184.215.14"  # a real public address; the fake network never lets it through
MB = 1024 * 1024


class FakeNetwork:
    """Answers name lookups from a table and lets sockets connect to loopback only."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: Counter[str] = Counter()
        self.dialled: list[tuple[str, int]] = []
        self.blackholes: set[str] = set()

    def resolve(self, name: str, *answers: list[str]) -> None:
        """``name`` answers ``answers[0]`` first, then ``answers[1]``, ... (the last repeats)."""
        self.answers[name] = list(answers)


@pytest.fixture(autouse=True)
def network(monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
    net = FakeNetwork()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        if name in net.answers:
            net.lookups[name] += 1
            sequence = net.answers[name]
            answer = sequence[min(net.lookups[name], len(sequence)) - 1]
            return [
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0))
                if ":" in ip
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
                for ip in answer
            ]
        try:
            ipaddress.ip_address(str(name).split("%")[0])
        except ValueError:
            if name != "localhost":
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return real_getaddrinfo(host, port, family, type, proto, flags)

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            ip, port = address[0], address[1]
            net.dialled.append((ip, port))
            if not ipaddress.ip_address(ip).is_loopback:
                if ip in net.blackholes:
                    raise TimeoutError("timed out")
                raise ConnectionRefusedError(111, "Connection refused (fake network)")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return net


@pytest.fixture
def server():
    with LocalHTTPServer() as server:
        yield server


@pytest.fixture
def listener():
    """A refused target: after each test it must have seen no connection and no byte."""
    with TcpListener() as listener:
        yield listener


def allow(*servers: LocalHTTPServer, **fields) -> FetchPolicy:
    """A policy opening exactly these servers' host:port, with short timeouts."""
    fields.setdefault("connect_timeout", 2.0)
    fields.setdefault("read_timeout", 2.0)
    hosts = frozenset(f"{s.host}:{s.port}" for s in servers)
    return FetchPolicy(allow_hosts=hosts, **fields)


def html_route(server: LocalHTTPServer, path: str, text: str = "hello") -> None:
    body = f"<!doctype html><title>{text}</title><p>{text}</p>".encode()
    server.route(path, body=body, headers={"Content-Type": "text/html; charset=utf-8"})


# --- the address guard --------------------------------------------------------------------------


def test_loopback_address_is_refused_before_any_byte_is_sent(listener):
    with pytest.raises(BlockedAddress) as caught:
        fetch(f"http://127.0.0.1:{listener.port}/", FetchPolicy())
    assert caught.value.sentence == "refused: 127.0.0.1 is a loopback address"
    assert not caught.value.transient
    assert listener.connection_count == 0
    assert listener.bytes_received == 0


@pytest.mark.parametrize(
    ("host", "sentence"),
    [
        ("10.0.0.5", "refused: 10.0.0.5 is a private address"),
        ("172.16.3.4", "refused: 172.16.3.4 is a private address"),
        ("192.168.1.1", "refused: 192.168.1.1 is a private address"),
        ("169.254.169.254", "refused: 169.254.169.254 is a link-local address"),
        ("100.64.0.1", "refused: 100.64.0.1 is a shared (carrier-grade NAT) address"),
        ("0.0.0.0", "refused: 0.0.0.0 is an unspecified address"),
        ("224.0.0.1", "refused: 224.0.0.1 is a multicast address"),
        ("255.255.255.255", "refused: 255.255.255.255 is a broadcast address"),
        ("240.0.0.1", "refused: 240.0.0.1 is a reserved address"),
        ("192.0.2.10", "refused: 192.0.2.10 is a documentation address"),
        ("[::1]", "refused: ::1 is a loopback address"),
        ("[::]", "refused: :: is an unspecified address"),
        ("[fe80::1]", "refused: fe80::1 is a link-local address"),
        ("[fd12:3456::1]", "refused: fd12:3456::1 is a private address"),
        ("[ff02::1]", "refused: ff02::1 is a multicast address"),
    ],
)
def test_internal_address_literal_is_refused(network, host, sentence):
    with pytest.raises(BlockedAddress) as caught:
        fetch(f"http://{host}/latest/meta-data/", FetchPolicy())
    assert caught.value.sentence == sentence
    assert network.dialled == []


@pytest.mark.parametrize(
    ("host", "embedded", "reason"),
    [
        ("[::ffff:127.0.0.1]", "127.0.0.1", "a loopback address"),
        ("[::ffff:7f00:1]", "127.0.0.1", "a loopback address"),
        ("[::ffff:169.254.169.254]", "169.254.169.254", "a link-local address"),
        ("[::ffff:10.1.2.3]", "10.1.2.3", "a private address"),
        ("[::127.0.0.1]", "127.0.0.1", "a loopback address"),
        ("[64:ff9b::a9fe:a9fe]", "169.254.169.254", "a link-local address"),
        ("[2002:a00:1::1]", "10.0.0.1", "a private address"),
    ],
)
def test_ipv6_form_of_internal_ipv4_address_is_refused(network, host, embedded, reason):
    with pytest.raises(BlockedAddress) as caught:
        fetch(f"http://{host}/", FetchPolicy())
    assert caught.value.reason.startswith(reason)
    assert embedded in caught.value.sentence
    assert network.dialled == []


@pytest.mark.parametrize(
    "spelling",
    [
        "2130706433",  # decimal
        "0x7f000001",  # hex
        "0X7F000001",
        "0177.0.0.1",  # octal
        "0177.0.0.01",
        "017700000001",
        "127.1",  # short
        "127.0.1",
        "0x7f.1",  # mixed
        "0x7f.0.0x0.1",
        "127.0.0.1.",  # trailing dot
    ],
)
def test_numeric_spelling_of_loopback_is_refused(listener, spelling):
    with pytest.raises(BlockedAddress) as caught:
        fetch(f"http://{spelling}:{listener.port}/", FetchPolicy())
    shown = spelling.lower()  # hosts are case-insensitive and reported lowercased
    assert caught.value.sentence == f"refused: {shown} means 127.0.0.1, a loopback address"
    assert listener.connection_count == 0


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("0xa9fea9fe", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("10.1", "10.0.0.1"),
        ("0", "0.0.0.0"),
    ],
)
def test_numeric_spelling_of_internal_address_is_refused(network, spelling, address):
    with pytest.raises(BlockedAddress) as caught:
        fetch(f"http://{spelling}/", FetchPolicy())
    assert caught.value.address == address
    assert network.dialled == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("1.2.3.4", "1.2.3.4"),
        ("0x", None),  # inet_aton wants a hex digit
        ("0x0", "0.0.0.0"),
        ("1.2.3.4.5", None),
        ("256.1.1.1", None),
        ("1.2.65536", None),
        ("4294967296", None),
        ("08.1.1.1", None),  # 8 is not an octal digit
        ("1..2", None),
        ("example.com", None),
        ("", None),
    ],
)
def test_ipv4_spellings_parse_like_inet_aton(text, expected):
    parsed = parse_ipv4_spelling(text)
    assert (str(parsed) if parsed else None) == expected
    if expected is not None:
        assert socket.inet_ntoa(socket.inet_aton(text)) == expected


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "2606:4700:4700::1111", "::ffff:93.184.215.14", "64:ff9b::808:808"]
)
def test_public_address_is_not_refused(address):
    assert refusal_reason(ipaddress.ip_address(address)) is None


def test_name_resolving_to_private_address_is_refused(network):
    network.resolve("intranet.example", ["10.0.0.7"])
    with pytest.raises(BlockedAddress) as caught:
        fetch("http://intranet.example/wiki", FetchPolicy())
    assert (
        caught.value.sentence == "refused: intranet.example resolves to 10.0.0.7, a private address"
    )
    assert network.dialled == []


def test_name_with_any_refused_address_is_refused(network):
    network.resolve("mixed.example", [PUBLIC_IP, "::1"])
    with pytest.raises(BlockedAddress) as caught:
        fetch("http://mixed.example/", FetchPolicy())
    assert caught.value.address == "::1"
    assert network.dialled == []


def test_name_that_does_not_resolve_is_a_lasting_failure():
    with pytest.raises(ConnectionFailed) as caught:
        fetch("http://nowhere.invalid/", FetchPolicy())
    assert caught.value.sentence == "could not find the server nowhere.invalid"
    assert not caught.value.transient


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("file:///etc/passwd", "file"),
        ("ftp://ftp.example.com/pub/file.txt", "ftp"),
        ("javascript:alert(document.cookie)", "javascript"),
        ("data:text/html,<script>alert(1)</script>", "data"),
        ("gopher://127.0.0.1:6379/_INFO", "gopher"),
        ("FILE:///etc/passwd", "file"),
    ],
)
def test_unsupported_scheme_is_refused(network, url, scheme):
    with pytest.raises(UnsupportedScheme) as caught:
        fetch(url, FetchPolicy())
    assert caught.value.sentence == (
        f"refused: only http and https addresses can be captured, not {scheme}:"
    )
    assert not caught.value.transient
    assert network.dialled == []


@pytest.mark.parametrize(
    "url", ["example.com/page", "http://", "http:///path", "http://example.com:99999/", "   "]
)
def test_malformed_url_is_invalid(network, url):
    with pytest.raises(InvalidURL) as caught:
        fetch(url, FetchPolicy())
    assert "is not a valid web address" in caught.value.sentence
    assert network.dialled == []


# --- the allow-list -----------------------------------------------------------------------------


def test_allow_list_host_port_opens_only_that_port(server, listener):
    html_route(server, "/")
    policy = FetchPolicy(allow_hosts=frozenset({f"127.0.0.1:{server.port}"}))
    assert fetch(server.url("/"), policy).status == 200
    with pytest.raises(BlockedAddress):
        fetch(f"http://127.0.0.1:{listener.port}/", policy)
    assert listener.connection_count == 0


def test_allow_list_host_opens_every_port(server):
    html_route(server, "/")
    with LocalHTTPServer() as other:
        html_route(other, "/")
        policy = FetchPolicy(allow_hosts=frozenset({"127.0.0.1"}))
        assert fetch(server.url("/"), policy).status == 200
        assert fetch(other.url("/"), policy).status == 200


def test_allow_list_matches_names_as_typed(server):
    html_route(server, "/")
    policy = FetchPolicy(allow_hosts=frozenset({f"LocalHost:{server.port}"}))
    response = fetch(server.url("/", host="localhost"), policy)
    assert response.status == 200
    assert server.requests[-1].headers["host"] == f"localhost:{server.port}"
    with pytest.raises(BlockedAddress):
        fetch(server.url("/"), policy)  # 127.0.0.1 is not the name that was opened


def test_allow_list_entries_are_normalised():
    policy = FetchPolicy(allow_hosts=frozenset({" Wiki.Example ", "[0:0::1]:8080", "10.0.0.2:81"}))
    assert policy.allow_hosts == frozenset({"wiki.example", "[0:0::1]:8080", "10.0.0.2:81"})
    assert policy.allows("wiki.example", 443)
    assert policy.allows("::1", 8080)
    assert not policy.allows("::1", 8081)
    assert policy.allows("10.0.0.2", 81)
    assert not policy.allows("10.0.0.2", 80)


@pytest.mark.parametrize("entry", ["wiki:http", "wiki:", "wiki:0", "wiki:70000", "[::1", "[::1]x"])
def test_malformed_allow_list_entry_opens_nothing(entry):
    policy = FetchPolicy(allow_hosts=frozenset({entry}))
    assert not policy.allows("wiki", 80)
    assert not policy.allows("::1", 80)


# --- redirects ----------------------------------------------------------------------------------


def test_redirect_to_private_address_is_refused(server, listener):
    """An allowed host redirects to a refused one: the refused listener sees nothing."""
    with TcpListener("127.0.0.2", listener.port) as other_loopback:
        server.redirect("/go", f"http://127.0.0.2:{other_loopback.port}/admin")
        with pytest.raises(BlockedAddress) as caught:
            fetch(server.url("/go"), allow(server))
        assert caught.value.sentence == "refused: 127.0.0.2 is a loopback address"
        assert other_loopback.connection_count == 0
        assert other_loopback.bytes_received == 0


def test_redirect_to_other_port_of_allowed_host_is_refused(server, listener):
    server.redirect("/go", f"http://127.0.0.1:{listener.port}/")
    with pytest.raises(BlockedAddress):
        fetch(server.url("/go"), allow(server))
    assert listener.connection_count == 0


def test_redirect_to_numeric_spelling_is_refused(server, listener):
    server.redirect("/go", f"http://0x7f000001:{listener.port}/")
    with pytest.raises(BlockedAddress):
        fetch(server.url("/go"), allow(server))
    assert listener.connection_count == 0


def test_redirect_to_metadata_address_is_refused(server, network):
    server.redirect("/go", "http://169.254.169.254/latest/meta-data/")
    with pytest.raises(BlockedAddress) as caught:
        fetch(server.url("/go"), allow(server))
    assert caught.value.sentence == "refused: 169.254.169.254 is a link-local address"
    assert all(ip == "127.0.0.1" for ip, _ in network.dialled)


def test_redirect_to_file_scheme_is_refused(server):
    server.redirect("/go", "file:///etc/passwd")
    with pytest.raises(UnsupportedScheme):
        fetch(server.url("/go"), allow(server))


def test_relative_redirects_are_resolved_against_the_current_url(server):
    server.redirect("/docs/start", "next")  # → /docs/next
    server.redirect("/docs/next", "../final?x=1", status=301)  # → /final?x=1
    html_route(server, "/final", "arrived")
    response = fetch(server.url("/docs/start"), allow(server))
    assert response.final_url == server.url("/final?x=1")
    assert response.url == server.url("/docs/start")
    assert response.redirects == (server.url("/docs/start"), server.url("/docs/next"))
    assert b"arrived" in response.body
    assert [r.path for r in server.requests] == ["/docs/start", "/docs/next", "/final?x=1"]


def test_absolute_redirect_to_another_allowed_server_is_followed(server):
    with LocalHTTPServer() as other:
        html_route(other, "/there", "other server")
        server.redirect("/here", other.url("/there"), status=308)
        response = fetch(server.url("/here"), allow(server, other))
        assert response.final_url == other.url("/there")
        assert b"other server" in response.body


def test_five_redirects_are_followed(server):
    for hop in range(5):
        server.redirect(f"/hop{hop}", f"/hop{hop + 1}")
    html_route(server, "/hop5", "end")
    response = fetch(server.url("/hop0"), allow(server))
    assert response.final_url == server.url("/hop5")
    assert len(response.redirects) == 5


def test_sixth_redirect_is_refused(server):
    for hop in range(6):
        server.redirect(f"/hop{hop}", f"/hop{hop + 1}")
    html_route(server, "/hop6", "never reached")
    with pytest.raises(TooManyRedirects) as caught:
        fetch(server.url("/hop0"), allow(server))
    assert caught.value.sentence == "the page redirected more than 5 times"
    assert [r.path for r in server.requests] == [f"/hop{n}" for n in range(6)]


def test_redirect_loop_is_refused(server):
    server.redirect("/a", "/b")
    server.redirect("/b", "/a")
    with pytest.raises(TooManyRedirects):
        fetch(server.url("/a"), allow(server, max_redirects=3))
    assert server.request_count == 4


def test_cookie_set_on_redirect_is_sent_to_the_next_hop(server):
    server.route("/login", status=302, headers={"Location": "/home", "Set-Cookie": "s=1; Path=/"})
    html_route(server, "/home")
    fetch(server.url("/login"), allow(server))
    assert server.requests[-1].headers.get("cookie") == "s=1"


# --- IP pinning ---------------------------------------------------------------------------------


def test_connection_goes_to_the_checked_address_when_dns_changes(network, listener):
    """DNS rebinding: the name answers a public IP to the check and 127.0.0.1 afterwards.

    The fetcher resolves once and dials the checked public address (which the fake network
    records and refuses); the local listener on the same port is never reached.
    """
    network.resolve("rebind.example", [PUBLIC_IP], ["127.0.0.1"])
    with pytest.raises(ConnectionFailed) as caught:
        fetch(f"http://rebind.example:{listener.port}/", FetchPolicy())
    assert caught.value.transient
    assert network.lookups["rebind.example"] == 1
    assert network.dialled == [(PUBLIC_IP, listener.port)]
    assert listener.connection_count == 0


def test_allowed_name_is_pinned_to_the_address_it_first_resolved_to(network, server):
    """Resolution flips from 127.0.0.1 (the server) to 127.0.0.2 (a listener on the same port)."""
    html_route(server, "/", "pinned")
    network.resolve("wiki.intranet", ["127.0.0.1"], ["127.0.0.2"])
    policy = FetchPolicy(allow_hosts=frozenset({"wiki.intranet"}))
    with TcpListener("127.0.0.2", server.port) as rebound:
        response = fetch(f"http://wiki.intranet:{server.port}/", policy)
        assert b"pinned" in response.body
        assert rebound.connection_count == 0
    assert network.lookups["wiki.intranet"] == 1
    assert network.dialled == [("127.0.0.1", server.port)]
    assert server.requests[0].headers["host"] == f"wiki.intranet:{server.port}"


def test_connection_tries_every_checked_address_in_order(network, server):
    html_route(server, "/")
    network.resolve("two.example", [PUBLIC_IP, "127.0.0.1"])
    policy = FetchPolicy(allow_hosts=frozenset({"two.example"}))
    assert fetch(f"http://two.example:{server.port}/", policy).status == 200
    assert network.dialled == [(PUBLIC_IP, server.port), ("127.0.0.1", server.port)]


def test_session_cannot_send_a_request_fetch_did_not_check(server):
    html_route(server, "/")
    with new_session() as session, pytest.raises(CaptureError) as caught:
        session.get(server.url("/"))
    assert caught.value.sentence == "refused: the address was not checked before connecting"
    assert server.connection_count == 0


def test_plain_session_passed_in_is_guarded_too(server, listener):
    html_route(server, "/")
    with requests.Session() as session:
        assert fetch(server.url("/"), allow(server), session=session).status == 200
        with pytest.raises(BlockedAddress):
            fetch(f"http://127.0.0.1:{listener.port}/", allow(server), session=session)
    assert listener.connection_count == 0


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    try:
        return make_tls_files(tmp_path_factory.mktemp("tls"), "secure.example")
    except (FileNotFoundError, OSError) as error:  # no openssl tool on this machine
        pytest.skip(f"cannot make a test certificate: {error}")


def test_https_is_pinned_with_sni_and_certificate_checked_for_the_name(network, tls_files):
    cert, key = tls_files
    context = server_tls_context(cert, key)
    names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    network.resolve("secure.example", ["127.0.0.1"])
    with LocalHTTPServer(tls=context) as server, new_session() as session:
        html_route(server, "/", "secret page")
        session.verify = str(cert)
        policy = FetchPolicy(allow_hosts=frozenset({"secure.example"}))
        response = fetch(f"https://secure.example:{server.port}/", policy, session=session)
        assert b"secret page" in response.body
        assert names == ["secure.example"]
        assert server.requests[0].headers["host"] == f"secure.example:{server.port}"


def test_https_certificate_for_another_name_is_refused(network, tls_files):
    cert, key = tls_files
    network.resolve("impostor.example", ["127.0.0.1"])
    with LocalHTTPServer(tls=server_tls_context(cert, key)) as server, new_session() as session:
        html_route(server, "/")
        session.verify = str(cert)
        policy = FetchPolicy(allow_hosts=frozenset({"impostor.example"}))
        with pytest.raises(ConnectionFailed) as caught:
            fetch(f"https://impostor.example:{server.port}/", policy, session=session)
        assert caught.value.sentence.startswith(
            "could not make a secure connection to impostor.example"
        )
        assert not caught.value.transient
        assert server.request_count == 0


# --- status, type and headers -------------------------------------------------------------------


def test_not_found_is_a_lasting_failure(server):
    with pytest.raises(HTTPStatusError) as caught:
        fetch(server.url("/missing"), allow(server))
    assert caught.value.status == 404
    assert caught.value.sentence == "the server answered 404 Not Found"
    assert not caught.value.transient


@pytest.mark.parametrize(
    ("status", "transient"), [(503, True), (429, True), (500, True), (403, False), (410, False)]
)
def test_server_errors_and_rate_limits_are_transient(server, status, transient):
    server.route("/", status=status, body=b"nope")
    with pytest.raises(HTTPStatusError) as caught:
        fetch(server.url("/"), allow(server))
    assert caught.value.status == status
    assert caught.value.transient is transient


def test_pdf_response_is_kept_with_its_type(server):
    pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(range(256)) + b"\n%%EOF\n"
    server.route("/paper.pdf", body=pdf, headers={"Content-Type": "application/pdf"})
    response = fetch(server.url("/paper.pdf"), allow(server))
    assert response.content_type == "application/pdf"
    assert response.charset is None
    assert response.body == pdf
    assert response.headers["content-type"] == "application/pdf"


def test_content_type_charset_comes_from_the_header(server):
    body = "<p>日本語</p>".encode("shift_jis")
    server.route("/", body=body, headers={"Content-Type": 'Text/HTML; Charset="Shift_JIS"'})
    response = fetch(server.url("/"), allow(server))
    assert (response.content_type, response.charset) == ("text/html", "shift_jis")
    assert response.body == body


def test_content_type_parsing():
    assert parse_content_type(None) == ("", None)
    assert parse_content_type("application/xhtml+xml") == ("application/xhtml+xml", None)
    assert parse_content_type("text/html;charset=GBK;q=1") == ("text/html", "gbk")


def test_browser_like_headers_are_sent(server):
    html_route(server, "/")
    fetch(server.url("/"), allow(server))
    headers = server.requests[0].headers
    assert headers["user-agent"].startswith("Mozilla/5.0")
    assert "kb-archiver" in headers["user-agent"]
    assert headers["accept"].startswith("text/html")
    assert "gzip" in headers["accept-encoding"]


def test_gzip_page_is_decompressed(server):
    page = b"<!doctype html><p>" + b"compressible text " * 1000 + b"</p>"
    server.route(
        "/",
        body=gzip.compress(page),
        headers={"Content-Encoding": "gzip", "Content-Type": "text/html"},
    )
    assert fetch(server.url("/"), allow(server)).body == page


def compress(encoding: str, body: bytes) -> bytes:
    if encoding == "br":
        return brotli.compress(body)
    if encoding == "zstd":
        return zstd.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    return gzip.compress(body)


@pytest.mark.parametrize("encoding", ["br", "zstd", "deflate", "gzip"])
def test_page_compressed_unasked_is_decompressed(server, encoding):
    """Some servers compress with br or zstd whatever the request accepts: the page is the
    decoded text, never the compressed bytes."""
    page = "<!doctype html><title>压缩</title><p>".encode() + b"compressible text " * 500
    server.route(
        "/",
        body=compress(encoding, page),
        headers={"Content-Encoding": encoding, "Content-Type": "text/html"},
    )
    assert fetch(server.url("/"), allow(server)).body == page


def test_br_and_zstd_are_accepted(server):
    html_route(server, "/")
    fetch(server.url("/"), allow(server))
    accepted = server.requests[0].headers["accept-encoding"].replace(" ", "").split(",")
    assert {"gzip", "deflate", "br", "zstd"} <= set(accepted)


def test_unknown_compression_fails_clearly(server):
    server.route(
        "/",
        body=b"\x1f\x9d\x90compressed the old unix way",
        headers={"Content-Encoding": "compress", "Content-Type": "text/html"},
    )
    with pytest.raises(DamagedResponse) as caught:
        fetch(server.url("/"), allow(server))
    assert caught.value.sentence == "the server compressed it as compress, which kb cannot read"


def test_body_shorter_than_its_declared_length_is_a_transient_failure(server):
    def short_body(handler, owner):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<p>only part")

    server.route("/", handler=short_body)
    with pytest.raises(ConnectionFailed) as caught:
        fetch(server.url("/"), allow(server))
    assert caught.value.sentence == "the connection to 127.0.0.1 broke off during the download"
    assert caught.value.transient


def test_damaged_gzip_body_is_reported(server):
    server.route(
        "/", body=b"\x1f\x8b\x08\x00garbage, not deflate", headers={"Content-Encoding": "gzip"}
    )
    with pytest.raises(DamagedResponse) as caught:
        fetch(server.url("/"), allow(server))
    assert caught.value.sentence == "the server sent a damaged compressed body"
    assert not caught.value.transient


# --- size limits --------------------------------------------------------------------------------


def test_endless_body_stops_at_the_size_cap(server):
    def endless():
        chunk = b"x" * 65536
        while not server.stopping.is_set():
            yield chunk

    server.route("/", body=endless, headers={"Content-Type": "text/html"})
    with pytest.raises(TooLarge) as caught:
        fetch(server.url("/"), allow(server, max_bytes=1 * MB))
    assert caught.value.sentence == "the page is larger than 1 MB"
    assert not caught.value.transient


@cache
def gzip_bomb(megabytes: int = 200) -> bytes:
    """One valid gzip stream of ``megabytes`` MB of zeros (about 1 KB per MB).

    Full flushes make the compressed form of every further megabyte identical, so the stream is
    built by repetition instead of compressing 200 MB in each test run.
    """
    zeros = bytes(MB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(megabytes):
        crc = zlib.crc32(zeros, crc)
    final_block_and_trailer = b"\x03\x00" + struct.pack("<II", crc, megabytes * MB % 2**32)
    return first + repeated * (megabytes - 1) + final_block_and_trailer


def test_gzip_bomb_is_a_valid_gzip_stream_of_zeros():
    small = gzip_bomb(3)
    assert gzip.decompress(small) == bytes(3 * MB)
    assert len(gzip_bomb()) < 300 * 1024


@pytest.mark.parametrize("chunked", [True, False])
def test_gzip_bomb_stops_at_the_cap_with_little_memory(server, chunked):
    bomb = gzip_bomb()

    def stream():
        for start in range(0, len(bomb), 16384):
            yield bomb[start : start + 16384]

    headers = {"Content-Encoding": "gzip", "Content-Type": "text/html"}
    server.route("/", body=stream, headers=headers, chunked=chunked)
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge):
            fetch(server.url("/"), allow(server, max_bytes=1 * MB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MB


def test_declared_length_over_the_cap_is_refused_before_reading(server):
    server.route("/", body=b"tiny", headers={"Content-Length": str(50 * MB)})
    with pytest.raises(TooLarge) as caught:
        fetch(server.url("/"), allow(server))
    assert caught.value.sentence == "the page is larger than 10 MB"


def test_body_exactly_at_the_cap_is_kept(server):
    server.route("/", body=b"a" * 4096, headers={"Content-Type": "text/plain"})
    assert len(fetch(server.url("/"), allow(server, max_bytes=4096)).body) == 4096


def test_body_one_byte_over_the_cap_is_refused(server):
    server.route("/", body=b"a" * 4097, headers={"Content-Type": "text/plain"})
    with pytest.raises(TooLarge):
        fetch(server.url("/"), allow(server, max_bytes=4096))


# --- time limits --------------------------------------------------------------------------------


def test_server_that_does_not_answer_times_out(server):
    server.route("/", delay=30, body=b"too late")
    with pytest.raises(FetchTimeout) as caught:
        fetch(server.url("/"), allow(server, read_timeout=0.2))
    assert caught.value.sentence == "the server did not answer within 0.2 seconds"
    assert caught.value.transient


def test_body_that_stalls_times_out(server):
    def stall():
        yield b"<p>first part"
        server.stopping.wait(30)
        yield b"never"

    server.route("/", body=stall)
    with pytest.raises(FetchTimeout) as caught:
        fetch(server.url("/"), allow(server, read_timeout=0.2))
    assert caught.value.phase == "read"


def test_server_that_accepts_no_connection_times_out(network):
    network.resolve("blackhole.example", [PUBLIC_IP])
    network.blackholes.add(PUBLIC_IP)
    with pytest.raises(FetchTimeout) as caught:
        fetch("http://blackhole.example/", FetchPolicy(connect_timeout=0.5))
    assert caught.value.sentence == "the server did not accept a connection within 0.5 seconds"
    assert caught.value.transient


def test_refused_connection_is_transient(server):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(ConnectionFailed) as caught:
        fetch(f"http://127.0.0.1:{port}/", FetchPolicy(allow_hosts=frozenset({"127.0.0.1"})))
    assert caught.value.sentence == "could not connect to 127.0.0.1: the connection was refused"
    assert caught.value.transient


def drip(server: LocalHTTPServer):
    """A body that never ends, one byte every 50 ms: each read is quick, the whole is not."""
    while not server.stopping.wait(0.05):
        yield b"x"


@pytest.mark.parametrize("chunked", [True, False])
def test_slow_drip_body_stops_at_the_deadline(server, chunked):
    server.route("/", body=lambda: drip(server), chunked=chunked)
    policy = allow(server, read_timeout=5.0).with_deadline(0.3)
    with pytest.raises(FetchTimeout) as caught:
        fetch(server.url("/"), policy)
    assert caught.value.phase == "deadline"
    assert caught.value.sentence == "the capture did not finish within the time allowed"
    assert caught.value.transient


def test_slow_drip_headers_stop_at_the_deadline(server):
    def drip_headers(handler, owner):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        while not owner.stopping.wait(0.05):
            handler.wfile.write(b"X-Slow: 1\r\n")
            handler.wfile.flush()

    server.route("/", handler=drip_headers)
    with pytest.raises(FetchTimeout) as caught:
        fetch(server.url("/"), allow(server, read_timeout=5.0).with_deadline(0.3))
    assert caught.value.phase == "deadline"


def test_deadline_already_passed_sends_nothing(server):
    html_route(server, "/")
    policy = allow(server, deadline=time.monotonic() - 1)
    with pytest.raises(FetchTimeout) as caught:
        fetch(server.url("/"), policy)
    assert caught.value.phase == "deadline"
    assert server.connection_count == 0


def test_deadline_shortens_the_read_timeout(server):
    server.route("/", delay=30, body=b"too late")
    with pytest.raises(FetchTimeout) as caught:
        fetch(server.url("/"), allow(server, read_timeout=15.0).with_deadline(0.3))
    assert caught.value.phase == "deadline"


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        HTTPStatusError(503),
        BlockedAddress("intranet.example", "10.0.0.7", "a private address", spelled="name"),
        TooLarge(MB),
        FetchTimeout("read", 15.0),
        UnsupportedScheme("ftp"),
    ],
)
def test_errors_survive_pickling(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (copy.sentence, copy.transient) == (error.sentence, error.transient)
    assert copy.__dict__ == error.__dict__
    assert str(copy) == error.sentence


def test_every_error_is_a_capture_error():
    for error_type in (BlockedAddress, TooLarge, FetchTimeout, ConnectionFailed, HTTPStatusError):
        assert issubclass(error_type, CaptureError)
