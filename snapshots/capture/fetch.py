"""Safe fetching of one URL: the SSRF guard, IP pinning, redirects and limits.

``fetch(url, policy)`` is the only way the capture pipeline reaches the network. Every hop
(the page and each redirect) goes through the same steps:

1. the scheme must be http or https;
2. the host is parsed — IPv6 literals, dotted quads, and the numeric IPv4 spellings resolvers
   accept (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``) — or else resolved once;
3. every address is checked (ARCHITECTURE §4): loopback, private, link-local, CGNAT, multicast,
   broadcast, reserved, unspecified and IPv6 forms that embed such an IPv4 address are refused,
   unless ``policy.allow_hosts`` names the host (or host:port) as typed;
4. the connection goes to the checked address itself (``PinnedAdapter``), while the Host header,
   TLS SNI and certificate check still use the host name, so DNS cannot change between the
   check and the connection.

Bodies are streamed and counted after decompression, so a gzip bomb stops at ``max_bytes``;
timeouts and an overall deadline bound the time. Failures raise a ``CaptureError`` subclass whose
``sentence`` is what the user reads: English, built with ``gettext_noop`` and ``Text`` (kb.messages)
so the pages can show it in the reader's language. No Django import here: the task layer stores it.
"""

from __future__ import annotations

import contextlib
import contextvars
import http
import ipaddress
import re
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.poolmanager import SSL_KEYWORDS

from kb.messages import Text, gettext_noop

__all__ = [
    "BlockedAddress",
    "CaptureError",
    "ConnectionFailed",
    "DamagedResponse",
    "FetchPolicy",
    "FetchTimeout",
    "HTTPStatusError",
    "InvalidURL",
    "PinnedAdapter",
    "Response",
    "Target",
    "TooLarge",
    "TooManyRedirects",
    "UnsupportedScheme",
    "check_url",
    "fetch",
    "new_session",
    "parse_ipv4_spelling",
    "refusal_reason",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 kb-archiver/0.1"
)
DEFAULT_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
DEFAULT_PORTS = {"http": 80, "https": 443}
CHUNK_SIZE = 64 * 1024


# --- errors -------------------------------------------------------------------------------------


class CaptureError(Exception):
    """A capture failed; ``sentence`` says why in plain English, ``transient`` if a retry may help."""

    def __init__(self, sentence: str, *, transient: bool = False) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.transient = transient

    def __str__(self) -> str:
        return self.sentence

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other constructor arguments; rebuild from the sentence and state so the
        # error survives pickling between a worker and whoever reads its result. A Text sentence
        # pickles as a Text (its own __reduce__), so the restored error can still be translated.
        return (_restore_error, (type(self), self.sentence, self.transient, dict(self.__dict__)))


def _restore_error(
    cls: type[CaptureError], sentence: str, transient: bool, state: dict[str, Any]
) -> CaptureError:
    error = cls.__new__(cls)
    CaptureError.__init__(error, sentence, transient=transient)
    error.__dict__.update(state)
    return error


class BlockedAddress(CaptureError):
    """The host is, or resolves to, an address the guard refuses (loopback, private, ...)."""

    def __init__(self, host: str, address: str, reason: str, *, spelled: str = "") -> None:
        # The reason ("a private address") is a sentence of its own, translated with the rest.
        shown_reason = _as_text(reason)
        if spelled == "name":
            sentence = Text.of(
                gettext_noop("refused: %(host)s resolves to %(address)s, %(reason)s"),
                host=host,
                address=address,
                reason=shown_reason,
            )
        elif spelled == "numeric":
            sentence = Text.of(
                gettext_noop("refused: %(host)s means %(address)s, %(reason)s"),
                host=host,
                address=address,
                reason=shown_reason,
            )
        else:
            sentence = Text.of(
                gettext_noop("refused: %(address)s is %(reason)s"),
                address=address,
                reason=shown_reason,
            )
        super().__init__(sentence)
        self.host = host
        self.address = address
        self.reason = reason


class UnsupportedScheme(CaptureError):
    def __init__(self, scheme: str) -> None:
        sentence = Text.of(
            gettext_noop("refused: only http and https addresses can be captured, not %(scheme)s:"),
            scheme=scheme,
        )
        super().__init__(sentence)
        self.scheme = scheme


class InvalidURL(CaptureError):
    def __init__(self, url: str, detail: str = "") -> None:
        shown = url if len(url) <= 200 else url[:200] + "…"
        if detail:
            sentence = Text.of(
                gettext_noop("%(url)s is not a valid web address: %(detail)s"),
                url=repr(shown),
                detail=_as_text(detail),
            )
        else:
            sentence = Text.of(gettext_noop("%(url)s is not a valid web address"), url=repr(shown))
        super().__init__(sentence)
        self.url = url


class TooLarge(CaptureError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            Text.of(gettext_noop("the page is larger than %(size)s"), size=_format_size(limit))
        )
        self.limit = limit


class FetchTimeout(CaptureError):
    """``phase`` is ``connect``, ``read`` or ``deadline`` (the whole capture ran out of time)."""

    def __init__(self, phase: str, seconds: float | None = None) -> None:
        if phase == "connect":
            sentence = Text.of(
                gettext_noop("the server did not accept a connection within %(time)s"),
                time=_format_seconds(seconds),
            )
        elif phase == "read":
            sentence = Text.of(
                gettext_noop("the server did not answer within %(time)s"),
                time=_format_seconds(seconds),
            )
        else:
            sentence = gettext_noop("the capture did not finish within the time allowed")
        super().__init__(sentence, transient=True)
        self.phase = phase
        self.seconds = seconds


class ConnectionFailed(CaptureError):
    def __init__(self, sentence: str, *, transient: bool = True) -> None:
        super().__init__(sentence, transient=transient)


class TooManyRedirects(CaptureError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            Text.of(gettext_noop("the page redirected more than %(limit)d times"), limit=limit)
        )
        self.limit = limit


class HTTPStatusError(CaptureError):
    def __init__(self, status: int, reason: str = "") -> None:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = reason.strip()
        if reason:
            sentence = Text.of(
                gettext_noop("the server answered %(status)d %(reason)s"),
                status=status,
                reason=reason,
            )
        else:
            sentence = Text.of(gettext_noop("the server answered %(status)d"), status=status)
        super().__init__(sentence, transient=status == 429 or status >= 500)
        self.status = status


class DamagedResponse(CaptureError):
    def __init__(self, sentence: str = "") -> None:
        super().__init__(sentence or gettext_noop("the server sent a damaged compressed body"))


def _as_text(sentence: str) -> str:
    """A marked sentence without values as a ``Text`` so that, as a value, it is translated too."""
    if isinstance(sentence, Text) or not sentence or "%" in sentence:  # "%" reads as a placeholder
        return sentence
    return Text.of(sentence)


def _format_size(size: int) -> str:
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"  # units read the same in every language
    return Text.of(gettext_noop("%(count)d bytes"), count=size)


def _format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return Text.of(gettext_noop("the time allowed"))
    shown = f"{seconds:.3g}"
    if shown == "1":
        return Text.of(gettext_noop("%(seconds)s second"), seconds=shown)
    return Text.of(gettext_noop("%(seconds)s seconds"), seconds=shown)


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
    def _allowed(self) -> tuple[frozenset[str], frozenset[tuple[str, int]]]:
        hosts: set[str] = set()
        host_ports: set[tuple[str, int]] = set()
        for entry in self.allow_hosts:
            parsed = _split_allow_entry(entry)
            if parsed is None:
                continue  # a malformed entry opens nothing
            host, port = parsed
            if port is None:
                hosts.add(host)
            else:
                host_ports.add((host, port))
        return frozenset(hosts), frozenset(host_ports)

    def allows(self, host: str, port: int) -> bool:
        """True if ``host`` (as typed, lowercased) or ``host:port`` is on the allow-list."""
        hosts, host_ports = self._allowed
        key = _canonical_literal(host)
        return key in hosts or (key, port) in host_ports


def _split_allow_entry(entry: str) -> tuple[str, int | None] | None:
    """``'wiki:8080'`` → ``('wiki', 8080)``, ``'[::1]'`` → ``('::1', None)``; None if malformed."""
    if entry.startswith("["):
        host, closed, rest = entry[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            return None
        port = rest[1:] if rest else None
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    else:
        host, port = entry, None
    if not host or (port is not None and not (port.isdigit() and 0 < int(port) < 65536)):
        return None
    return _canonical_literal(host), int(port) if port is not None else None


def _canonical_literal(host: str) -> str:
    """The standard spelling of an IP literal (``0:0::1`` → ``::1``); names unchanged."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


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


# --- the address guard --------------------------------------------------------------------------

_IPV4_REFUSED = [
    (ipaddress.ip_network(net), label)
    for net, label in (
        ("0.0.0.0/32", gettext_noop("an unspecified address")),
        ("0.0.0.0/8", gettext_noop("a reserved address")),
        ("127.0.0.0/8", gettext_noop("a loopback address")),
        ("10.0.0.0/8", gettext_noop("a private address")),
        ("172.16.0.0/12", gettext_noop("a private address")),
        ("192.168.0.0/16", gettext_noop("a private address")),
        ("169.254.0.0/16", gettext_noop("a link-local address")),
        ("100.64.0.0/10", gettext_noop("a shared (carrier-grade NAT) address")),
        ("224.0.0.0/4", gettext_noop("a multicast address")),
        ("255.255.255.255/32", gettext_noop("a broadcast address")),
        ("240.0.0.0/4", gettext_noop("a reserved address")),
        ("192.0.0.0/24", gettext_noop("a reserved address")),
        ("192.88.99.0/24", gettext_noop("a reserved address")),
        ("192.0.2.0/24", gettext_noop("a documentation address")),
        ("198.51.100.0/24", gettext_noop("a documentation address")),
        ("203.0.113.0/24", gettext_noop("a documentation address")),
        ("198.18.0.0/15", gettext_noop("a benchmarking address")),
    )
]
_IPV6_REFUSED = [
    (ipaddress.ip_network(net), label)
    for net, label in (
        ("::/128", gettext_noop("an unspecified address")),
        ("::1/128", gettext_noop("a loopback address")),
        ("fe80::/10", gettext_noop("a link-local address")),
        ("fc00::/7", gettext_noop("a private address")),
        ("fec0::/10", gettext_noop("a site-local address")),
        ("ff00::/8", gettext_noop("a multicast address")),
        ("64:ff9b:1::/48", gettext_noop("a private address")),
        ("2001:db8::/32", gettext_noop("a documentation address")),
        ("100::/64", gettext_noop("a reserved address")),
        ("2001::/23", gettext_noop("a reserved address")),
    )
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def refusal_reason(address: IPAddress) -> str | None:
    """Why the guard refuses ``address`` (``'a loopback address'``), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        embedded, form = _embedded_ipv4(address)
        if embedded is not None:
            reason = refusal_reason(embedded)
            if reason is not None:
                return Text.of(
                    gettext_noop("%(reason)s (%(address)s in %(form)s form)"),
                    reason=_as_text(reason),
                    address=str(embedded),
                    form=form,
                )
            if form == "IPv4-mapped IPv6" or form == "NAT64":
                # These reach exactly the embedded IPv4 address, which is public.
                return None
        table = _IPV6_REFUSED
    else:
        table = _IPV4_REFUSED
    for network, label in table:
        if address in network:
            return label
    if address.is_loopback:
        return gettext_noop("a loopback address")
    if address.is_link_local:
        return gettext_noop("a link-local address")
    if address.is_multicast:
        return gettext_noop("a multicast address")
    if address.is_unspecified:
        return gettext_noop("an unspecified address")
    if address.is_private:
        return gettext_noop("a private address")
    if address.is_reserved:
        return gettext_noop("a reserved address")
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return gettext_noop("a site-local address")
    if not address.is_global:
        return gettext_noop("a non-public address")
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, str]:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped IPv6"
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "NAT64"
    if address in _IPV4_TRANSLATED:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "IPv4-translated IPv6"
    if address.sixtofour is not None:
        return address.sixtofour, "6to4"
    if address.teredo is not None:
        return address.teredo[1], "Teredo"
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "IPv4-compatible IPv6"
    return None, ""


_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")


def parse_ipv4_spelling(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``host`` means under ``inet_aton`` rules, or None if it is not numeric.

    One to four dot-separated parts, each decimal, ``0x`` hex or ``0``-led octal; the last part
    fills the remaining bytes: ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1`` and
    ``0x7f.1`` all mean 127.0.0.1.
    """
    text = host[:-1] if host.endswith(".") else host
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.fullmatch(p) for p in parts):
        return None
    values = []
    for part in parts:
        if part[:2].lower() == "0x":
            values.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part[0] == "0":
            values.append(int(part, 8))
        else:
            values.append(int(part))
    *leading, last = values
    if any(v > 255 for v in leading) or last >= 256 ** (4 - len(leading)):
        return None
    number = last
    for index, value in enumerate(leading):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


@dataclass(frozen=True)
class Target:
    """A checked hop: where to connect (``addresses``) for ``url``'s scheme, host and port."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def check_url(url: str, policy: FetchPolicy) -> Target:
    """Parse, resolve once and check ``url``; raise a ``CaptureError`` if it may not be fetched.

    ``url`` should already be normalised (``requests`` prepared); ``fetch`` does that.
    """
    parts = _split_web_url(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError as error:
        raise InvalidURL(url, str(error)) from None
    if not host:
        raise InvalidURL(url, gettext_noop("it has no host"))
    scheme = parts.scheme.lower()
    port = port or DEFAULT_PORTS[scheme]
    allowed = policy.allows(host, port)

    if ":" in host:  # urlsplit strips the brackets of an IPv6 literal
        try:
            literal: IPAddress = ipaddress.IPv6Address(host)
        except ValueError:
            detail = Text.of(gettext_noop("%(host)s is not an IPv6 address"), host=host)
            raise InvalidURL(url, detail) from None
        addresses = [literal]
        spelled = "literal"
    elif (numeric := parse_ipv4_spelling(host)) is not None:
        addresses = [numeric]
        spelled = "literal" if str(numeric) == host else "numeric"
    else:
        addresses = _resolve(host, port)
        spelled = "name"

    if not allowed:
        for address in addresses:
            reason = refusal_reason(address)
            if reason is not None:
                shown = host if spelled == "literal" else str(address)
                raise BlockedAddress(host, shown, reason, spelled=spelled)
    return Target(url, scheme, host, port, tuple(str(a) for a in addresses))


def _split_web_url(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise InvalidURL(url, str(error)) from None
    scheme = parts.scheme.lower()
    if not scheme or (scheme not in DEFAULT_PORTS and not parts.netloc and "." in scheme):
        raise InvalidURL(url, gettext_noop("it should start with http:// or https://"))
    if scheme not in DEFAULT_PORTS:
        raise UnsupportedScheme(scheme)
    return parts


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError:
        raise InvalidURL(host, gettext_noop("the host name is not valid")) from None
    except socket.gaierror as error:
        not_found = error.errno in {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)}
        sentence = Text.of(gettext_noop("could not find the server %(host)s"), host=host)
        raise ConnectionFailed(sentence, transient=not not_found) from None
    addresses: list[IPAddress] = []
    for family, *_, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ConnectionFailed(f"could not find the server {host}", transient=False)
    return addresses


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
            raise CaptureError(
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
        raise CaptureError(gettext_noop("refused: the address was not checked before connecting"))

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


def fetch(url: str, policy: FetchPolicy, *, session: requests.Session | None = None) -> Response:
    """GET ``url`` under ``policy``, following redirects; every hop is checked and pinned.

    A ``session`` passed in (for connection reuse across many fetches) gets a ``PinnedAdapter``
    mounted for http:// and https:// if it lacks one. Raises a ``CaptureError`` subclass.
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
            target = check_url(prepared.url or "", policy)
            setattr(prepared, _TARGET_ATTRIBUTE, target)
            with _Watchdog(policy.deadline) as watchdog:
                answer = hop.send(adapter, session, prepared, watchdog)
                try:
                    extract_cookies_to_jar(session.cookies, prepared, answer.raw)
                    location = session.get_redirect_target(answer)
                    if location is not None:
                        if len(redirects) >= policy.max_redirects:
                            raise TooManyRedirects(policy.max_redirects)
                        redirects.append(target.url)
                        current = urljoin(target.url, location)
                        continue
                    if not 200 <= answer.status_code < 300:
                        raise HTTPStatusError(answer.status_code, answer.reason or "")
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
    _split_web_url(url)  # refuse other schemes before requests sees them
    headers = {"User-Agent": policy.user_agent, "Accept": policy.accept}
    try:
        return session.prepare_request(requests.Request("GET", url, headers=headers))
    except (requests.RequestException, urllib3.exceptions.LocationParseError) as error:
        raise InvalidURL(url, _first_line(error)) from None
    except (UnicodeError, ValueError) as error:
        raise InvalidURL(url, _first_line(error)) from None


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
                raise FetchTimeout("deadline")
        self.connect_cut = self.remaining is not None and self.remaining < connect
        self.read_cut = self.remaining is not None and self.remaining < read
        self.connect = min(connect, self.remaining) if self.connect_cut else connect
        self.read = min(read, self.remaining) if self.read_cut else read

    def timeout(self, phase: str) -> FetchTimeout:
        if phase == "connect":
            cut, seconds = self.connect_cut, self.connect
        else:
            cut, seconds = self.read_cut, self.read
        return FetchTimeout("deadline") if cut else FetchTimeout(phase, seconds)

    def send(
        self,
        adapter: PinnedAdapter,
        session: requests.Session,
        prepared: requests.PreparedRequest,
        watchdog: _Watchdog,
    ) -> requests.Response:
        host = urlsplit(prepared.url or "").hostname or "the server"
        try:
            return adapter.send(
                prepared,
                stream=True,
                timeout=(self.connect, self.read),
                verify=session.verify,
                cert=session.cert,
                proxies={},
            )
        except CaptureError:
            raise
        except requests.ConnectTimeout:
            raise (
                FetchTimeout("deadline") if watchdog.fired else self.timeout("connect")
            ) from None
        except requests.ReadTimeout:
            raise (FetchTimeout("deadline") if watchdog.fired else self.timeout("read")) from None
        except requests.exceptions.SSLError as error:
            if watchdog.fired:
                raise FetchTimeout("deadline") from None
            sentence = Text.of(
                gettext_noop("could not make a secure connection to %(host)s: %(reason)s"),
                host=host,
                reason=_as_text(_tls_reason(error)),
            )
            raise ConnectionFailed(sentence, transient=False) from None
        except (requests.ConnectionError, OSError) as error:
            if watchdog.fired:
                raise FetchTimeout("deadline") from None
            raise ConnectionFailed(_connection_sentence(host, error)) from None
        except requests.RequestException as error:
            sentence = Text.of(
                gettext_noop("could not fetch from %(host)s: %(detail)s"),
                host=host,
                detail=_first_line(error),
            )
            raise ConnectionFailed(sentence) from None

    def read_body(self, answer: requests.Response, target: Target, watchdog: _Watchdog) -> bytes:
        limit = self.policy.max_bytes
        declared = answer.headers.get("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > limit:
            raise TooLarge(limit)
        body = bytearray()
        try:
            for chunk in answer.raw.stream(CHUNK_SIZE, decode_content=True):
                body += chunk
                if len(body) > limit:
                    raise TooLarge(limit)
                if self.policy.deadline is not None and time.monotonic() >= self.policy.deadline:
                    raise FetchTimeout("deadline")
        except CaptureError:
            raise
        except urllib3.exceptions.ReadTimeoutError:
            raise (FetchTimeout("deadline") if watchdog.fired else self.timeout("read")) from None
        except urllib3.exceptions.DecodeError:
            if watchdog.fired:
                raise FetchTimeout("deadline") from None
            raise DamagedResponse() from None
        except (urllib3.exceptions.HTTPError, OSError):
            if watchdog.fired:
                raise FetchTimeout("deadline") from None
            sentence = Text.of(
                gettext_noop("the connection to %(host)s broke off during the download"),
                host=target.host,
            )
            raise ConnectionFailed(sentence) from None
        if watchdog.fired:  # the shutdown may look like a clean end of the body
            raise FetchTimeout("deadline")
        return bytes(body)


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
