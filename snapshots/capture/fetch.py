"""Safe fetching of one URL: IP pinning, redirects, limits and the deadline.

``fetch(url, policy)`` is the only way the capture pipeline reaches the network. Every hop
(the page and each redirect) is first checked by the SSRF guard (``guard.check_url``), then
the connection goes to the checked address itself (``PinnedAdapter``), while the Host header,
TLS SNI and certificate check still use the host name, so DNS cannot change between the check
and the connection.

Bodies are streamed and counted after decompression, so a gzip bomb stops at ``max_bytes``;
timeouts and an overall deadline bound the time. Failures raise a ``CaptureError`` subclass
(``errors``) whose ``sentence`` is what the user reads. No Django import here.
"""

from __future__ import annotations

import contextlib
import contextvars
import http.client
import re
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.poolmanager import SSL_KEYWORDS
from urllib3.response import HTTPResponse
from urllib3.util.request import ACCEPT_ENCODING

from kb.messages import Text, gettext_noop
from snapshots.capture import errors
from snapshots.capture.guard import (
    DEFAULT_PORTS,
    AllowList,
    NameCache,
    Target,
    check_url,
    split_web_url,
)

__all__ = [
    "FetchPolicy",
    "PinnedAdapter",
    "Response",
    "fetch",
    "new_session",
    "parse_content_type",
]

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 kb-archiver/0.1"
)
DEFAULT_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CHUNK_SIZE = 64 * 1024
# What urllib3 can decode here: gzip and deflate always, br with brotli, zstd with backports-zstd
# (requirements.txt). Servers send br or zstd even unasked, so the decoders must be present.
DECODABLE = frozenset({*HTTPResponse.CONTENT_DECODERS, "identity"})


# --- policy and response ------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchPolicy:
    """Limits and openings for one capture.

    ``allow_hosts`` entries are ``host`` (any port) or ``host:port`` (``[v6]:port`` for IPv6),
    matched against the host as typed in the URL; a match opens it even if it is loopback or
    private. ``deadline`` is a ``time.monotonic()`` instant by which every hop must be done.
    """

    allow_hosts: frozenset[str] = frozenset()
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    deadline: float | None = None
    user_agent: str = DEFAULT_USER_AGENT
    accept: str = DEFAULT_ACCEPT

    def __post_init__(self) -> None:
        entries = self.allow_hosts
        if isinstance(entries, str):
            entries = entries.split(",")
        normalized = frozenset(e.strip().lower() for e in entries if e and e.strip())
        object.__setattr__(self, "allow_hosts", normalized)

    def with_deadline(self, seconds: float) -> FetchPolicy:
        """A copy whose deadline is ``seconds`` from now."""
        return replace(self, deadline=time.monotonic() + seconds)

    @cached_property
    def allow_list(self) -> AllowList:
        return AllowList.parse(self.allow_hosts)

    def allows(self, host: str, port: int) -> bool:
        """True if ``host`` (as typed, lowercased) or ``host:port`` is on the allow-list."""
        return self.allow_list.allows(host, port)


@dataclass(frozen=True)
class Response:
    """A fetched page. ``redirects`` lists the URLs that answered with a redirect, in order."""

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]
    content_type: str
    charset: str | None
    body: bytes
    redirects: tuple[str, ...] = field(default=())


def parse_content_type(header: str | None) -> tuple[str, str | None]:
    """``'Text/HTML; charset="GBK"'`` → ``('text/html', 'gbk')``."""
    if not header:
        return "", None
    media_type, *params = header.split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'").strip().lower() or None
            break
    return media_type.strip().lower(), charset


# --- connecting to the checked address ----------------------------------------------------------

_TARGET_ATTRIBUTE = "_kb_checked_target"
_current_watchdog: contextvars.ContextVar[_Watchdog | None] = contextvars.ContextVar(
    "kb_fetch_watchdog", default=None
)


class _PinnedConnectionMixin:
    """Dials the checked addresses instead of resolving ``host`` again."""

    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    sock: Any

    def __init__(self, *args: Any, pinned_addresses: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pinned_addresses = pinned_addresses

    def _new_conn(self) -> socket.socket:
        error: Exception = NewConnectionError(self, "no checked address to connect to")
        for address in self.pinned_addresses:
            watchdog = _current_watchdog.get()
            if watchdog is not None and watchdog.fired:
                break  # out of time: do not try the next address
            try:
                sock = _dial(address, self.port, self.timeout, self.socket_options)
            except TimeoutError:
                error = ConnectTimeoutError(
                    self, f"Connection to {self.host} ({address}) timed out."
                )
            except OSError as exc:
                error = NewConnectionError(self, f"Failed to connect to {address}: {exc}")
            else:
                sys.audit("http.client.connect", self, self.host, self.port)
                return sock
        raise error

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _track_socket(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        # A kept-alive connection is reused without connect(); watch its socket for this hop too.
        if self.sock is not None:
            _track_socket(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


def _dial(address: str, port: int, timeout: Any, socket_options: Any) -> socket.socket:
    # AI_NUMERICHOST: the address is already checked; no name lookup can happen here.
    family, socktype, proto, _, sockaddr = socket.getaddrinfo(
        address, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
    )[0]
    sock = socket.socket(family, socktype, proto)
    try:
        for option in socket_options or ():
            sock.setsockopt(*option)
        if isinstance(timeout, int | float):
            sock.settimeout(timeout)
        sock.connect(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class PinnedAdapter(HTTPAdapter):
    """A transport adapter that only sends requests ``fetch`` has checked, to the checked IP.

    Host header, SNI and certificate verification use the URL's host; the socket goes to the
    address recorded on the request by ``fetch``. A request without one is refused, so a session
    carrying this adapter cannot be used to reach an unchecked address. Proxies are never used.
    """

    def __init__(self, pool_maxsize: int = 4) -> None:
        super().__init__(pool_connections=1, pool_maxsize=pool_maxsize, max_retries=0)
        self._pools: dict[tuple[Any, ...], HTTPConnectionPool] = {}
        self._pools_lock = threading.Lock()

    @property
    def pool_maxsize(self) -> int:
        """How many idle connections to one address this adapter keeps."""
        return self._pool_maxsize

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: Any,
        proxies: Mapping[str, str] | None = None,
        cert: Any = None,
    ) -> HTTPConnectionPool:
        target: Target | None = getattr(request, _TARGET_ATTRIBUTE, None)
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        scheme, host = host_params["scheme"], host_params["host"]
        port = host_params["port"] or DEFAULT_PORTS.get(scheme)
        if target is None or (target.scheme, target.host, target.port) != (scheme, host, port):
            raise errors.CaptureError(
                gettext_noop("refused: the address was not checked before connecting")
            )
        if scheme != "https":
            pool_kwargs = {k: v for k, v in pool_kwargs.items() if k not in SSL_KEYWORDS}
        key = (scheme, host, port, target.addresses, tuple(sorted(pool_kwargs.items())))
        with self._pools_lock:
            pool = self._pools.get(key)
            if pool is None:
                pool_class = (
                    _PinnedHTTPSConnectionPool if scheme == "https" else _PinnedHTTPConnectionPool
                )
                pool = pool_class(
                    host,
                    port,
                    maxsize=self._pool_maxsize,
                    pinned_addresses=target.addresses,
                    **pool_kwargs,
                )
                self._pools[key] = pool
        return pool

    def get_connection(self, url: str, proxies: Mapping[str, str] | None = None) -> Any:
        raise errors.CaptureError(
            gettext_noop("refused: the address was not checked before connecting")
        )

    def request_url(self, request: requests.PreparedRequest, proxies: Any) -> str:
        return super().request_url(request, {})

    def close(self) -> None:
        with self._pools_lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
        super().close()


def new_session() -> requests.Session:
    """A requests session whose http and https traffic goes through a ``PinnedAdapter``."""
    session = requests.Session()
    session.trust_env = False  # no proxies or .netrc from the environment
    _pinned_adapter(session)
    return session


def _pinned_adapter(session: requests.Session) -> PinnedAdapter:
    adapter = session.adapters.get("https://")
    if not isinstance(adapter, PinnedAdapter) or session.adapters.get("http://") is not adapter:
        adapter = PinnedAdapter()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    return adapter


# --- the deadline -------------------------------------------------------------------------------


class _Watchdog:
    """Shuts the hop's sockets down at the deadline, so no slow read can outlive it."""

    def __init__(self, deadline: float | None) -> None:
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = None
        if deadline is not None:
            self._timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self._fire)
            self._timer.daemon = True

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shutdown(sock)

    def __enter__(self) -> _Watchdog:
        self._token = _current_watchdog.set(self)
        if self._timer is not None:
            self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        _current_watchdog.reset(self._token)


def _track_socket(sock: socket.socket) -> None:
    watchdog = _current_watchdog.get()
    if watchdog is not None:
        watchdog.track(sock)


def _shutdown(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for an SSLSocket: wake a blocked read with EOF.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


# --- fetch --------------------------------------------------------------------------------------


def fetch(
    url: str,
    policy: FetchPolicy,
    *,
    session: requests.Session | None = None,
    names: NameCache | None = None,
) -> Response:
    """GET ``url`` under ``policy``, following redirects; every hop is checked and pinned.

    A ``session`` passed in (for connection reuse across many fetches) gets a ``PinnedAdapter``
    mounted for http:// and https:// if it lacks one; ``names`` reuses the capture's DNS answers.
    Raises a ``CaptureError`` subclass.
    """
    own_session = session is None
    session = session or new_session()
    adapter = _pinned_adapter(session)
    try:
        current = url.strip()
        redirects: list[str] = []
        while True:
            hop = _Hop(policy)  # refuses at once when the deadline has passed
            prepared = _prepare(session, current, policy)
            target = check_url(prepared.url or "", policy.allow_list, names)
            setattr(prepared, _TARGET_ATTRIBUTE, target)
            with _Watchdog(policy.deadline) as watchdog:
                answer = hop.send(adapter, session, prepared, watchdog)
                try:
                    extract_cookies_to_jar(session.cookies, prepared, answer.raw)
                    location = session.get_redirect_target(answer)
                    if location is not None:
                        if len(redirects) >= policy.max_redirects:
                            raise errors.TooManyRedirects(policy.max_redirects)
                        redirects.append(target.url)
                        current = urljoin(target.url, location)
                        continue
                    if not 200 <= answer.status_code < 300:
                        raise errors.HTTPStatusError(answer.status_code, answer.reason or "")
                    body = hop.read_body(answer, target, watchdog)
                finally:
                    answer.close()
            content_type, charset = parse_content_type(answer.headers.get("Content-Type"))
            return Response(
                url=url,
                final_url=target.url,
                status=answer.status_code,
                headers=CaseInsensitiveDict(answer.headers),
                content_type=content_type,
                charset=charset,
                body=body,
                redirects=tuple(redirects),
            )
    finally:
        if own_session:
            session.close()


def _prepare(session: requests.Session, url: str, policy: FetchPolicy) -> requests.PreparedRequest:
    split_web_url(url)  # refuse other schemes before requests sees them
    headers = {
        "User-Agent": policy.user_agent,
        "Accept": policy.accept,
        "Accept-Encoding": ACCEPT_ENCODING,
    }
    try:
        return session.prepare_request(requests.Request("GET", url, headers=headers))
    except (requests.RequestException, urllib3.exceptions.LocationParseError) as error:
        raise errors.InvalidURL(url, _first_line(error)) from None
    except (UnicodeError, ValueError) as error:
        raise errors.InvalidURL(url, _first_line(error)) from None


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


class _Hop:
    """Timeouts for one request/response, cut short by the policy's deadline."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self.remaining: float | None = None
        connect, read = policy.connect_timeout, policy.read_timeout
        if policy.deadline is not None:
            self.remaining = policy.deadline - time.monotonic()
            if self.remaining <= 0:
                raise errors.FetchTimeout("deadline")
        self.connect_cut = self.remaining is not None and self.remaining < connect
        self.read_cut = self.remaining is not None and self.remaining < read
        self.connect = min(connect, self.remaining) if self.connect_cut else connect
        self.read = min(read, self.remaining) if self.read_cut else read

    def timeout(self, phase: str) -> errors.FetchTimeout:
        if phase == "connect":
            cut, seconds = self.connect_cut, self.connect
        else:
            cut, seconds = self.read_cut, self.read
        return errors.FetchTimeout("deadline") if cut else errors.FetchTimeout(phase, seconds)

    def send(
        self,
        adapter: PinnedAdapter,
        session: requests.Session,
        prepared: requests.PreparedRequest,
        watchdog: _Watchdog,
    ) -> requests.Response:
        # A server may close a kept-alive connection while it sits idle in the pool, and the
        # request sent on it just then gets no answer at all. Like a browser, send the GET again
        # on another connection: each such failure throws one stale connection away, so at most
        # the pool's size of them plus a fresh one (a server that closes fresh ones fails too).
        attempts = adapter.pool_maxsize + 1
        for attempt in range(attempts):
            try:
                return adapter.send(
                    prepared,
                    stream=True,
                    timeout=(self.connect, self.read),
                    verify=session.verify,
                    cert=session.cert,
                    proxies={},
                )
            except requests.ConnectionError as error:
                last = attempt + 1 == attempts
                if last or watchdog.fired or not _closed_unanswered(error):
                    raise self._failure(error, prepared, watchdog) from None
            except (errors.CaptureError, requests.RequestException, OSError) as error:
                raise self._failure(error, prepared, watchdog) from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _failure(
        self, error: Exception, prepared: requests.PreparedRequest, watchdog: _Watchdog
    ) -> errors.CaptureError:
        """The ``CaptureError`` that says why sending ``prepared`` failed."""
        host = urlsplit(prepared.url or "").hostname or "the server"
        if isinstance(error, errors.CaptureError):
            return error
        if isinstance(error, requests.ConnectTimeout):
            return errors.FetchTimeout("deadline") if watchdog.fired else self.timeout("connect")
        if isinstance(error, requests.ReadTimeout):
            return errors.FetchTimeout("deadline") if watchdog.fired else self.timeout("read")
        if isinstance(error, requests.exceptions.SSLError):
            if watchdog.fired:
                return errors.FetchTimeout("deadline")
            sentence = Text.of(
                gettext_noop("could not make a secure connection to %(host)s: %(reason)s"),
                host=host,
                reason=errors.as_text(_tls_reason(error)),
            )
            return errors.ConnectionFailed(sentence, transient=False)
        if isinstance(error, requests.ConnectionError | OSError):
            if watchdog.fired:
                return errors.FetchTimeout("deadline")
            return errors.ConnectionFailed(_connection_sentence(host, error))
        sentence = Text.of(  # any other refusal of requests'
            gettext_noop("could not fetch from %(host)s: %(detail)s"),
            host=host,
            detail=_first_line(error),
        )
        return errors.ConnectionFailed(sentence)

    def read_body(self, answer: requests.Response, target: Target, watchdog: _Watchdog) -> bytes:
        limit = self.policy.max_bytes
        declared = answer.headers.get("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > limit:
            raise errors.TooLarge(limit)
        _check_encoding(answer.headers.get("Content-Encoding", ""))
        body = bytearray()
        try:
            for chunk in answer.raw.stream(CHUNK_SIZE, decode_content=True):
                body += chunk
                if len(body) > limit:
                    raise errors.TooLarge(limit)
                if self.policy.deadline is not None and time.monotonic() >= self.policy.deadline:
                    raise errors.FetchTimeout("deadline")
        except errors.CaptureError:
            raise
        except urllib3.exceptions.ReadTimeoutError:
            raise (
                errors.FetchTimeout("deadline") if watchdog.fired else self.timeout("read")
            ) from None
        except urllib3.exceptions.DecodeError:
            if watchdog.fired:
                raise errors.FetchTimeout("deadline") from None
            raise errors.DamagedResponse() from None
        except (urllib3.exceptions.HTTPError, OSError):
            if watchdog.fired:
                raise errors.FetchTimeout("deadline") from None
            sentence = Text.of(
                gettext_noop("the connection to %(host)s broke off during the download"),
                host=target.host,
            )
            raise errors.ConnectionFailed(sentence) from None
        if watchdog.fired:  # the shutdown may look like a clean end of the body
            raise errors.FetchTimeout("deadline")
        return bytes(body)


def _check_encoding(header: str) -> None:
    """Refuse a body compressed in a way urllib3 cannot undo: its bytes are not the page."""
    unknown = [
        coding
        for coding in (part.strip().lower() for part in header.split(","))
        if coding and coding not in DECODABLE
    ]
    if unknown:
        raise errors.DamagedResponse(
            Text.of(
                gettext_noop("the server compressed it as %(encoding)s, which kb cannot read"),
                encoding=", ".join(unknown),
            )
        )


# What a request sent on a connection the server had already closed ends with, before any answer.
_CLOSED_UNANSWERED = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)


def _closed_unanswered(error: BaseException) -> bool:
    """Did the server close the connection before answering (nothing of a response arrived)?"""
    seen: set[int] = set()
    pending: list[object] = [error]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, _CLOSED_UNANSWERED):
            return True
        pending.extend(current.args)
        pending.extend((current.__cause__, current.__context__))
    return False


def _connection_sentence(host: str, error: BaseException) -> str:
    text = str(error).lower()
    if "refused" in text:
        template = gettext_noop("could not connect to %(host)s: the connection was refused")
    elif "reset" in text or "aborted" in text or "remote end closed" in text:
        template = gettext_noop("could not connect to %(host)s: the server closed the connection")
    elif "unreachable" in text:
        template = gettext_noop("could not connect to %(host)s: the network is unreachable")
    else:
        template = gettext_noop("could not connect to %(host)s")
    return Text.of(template, host=host)


def _tls_reason(error: BaseException) -> str:
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        match = re.search(r"certificate verify failed: ([^(')\]]+)", text)
        if match:
            # The detail is OpenSSL's own English ("self-signed certificate"), kept as it is.
            return Text.of(
                gettext_noop("the certificate is not valid (%(detail)s)"),
                detail=match.group(1).strip(),
            )
        return gettext_noop("the certificate is not valid")
    if "hostname" in text.lower() and "match" in text.lower():
        return gettext_noop("the certificate is for another host")
    return gettext_noop("the TLS handshake failed")
