"""The SSRF guard: may a URL be fetched, and at which addresses (ARCHITECTURE §4)?

``check_url(url, allow_list)`` is asked before every hop ``fetch`` makes (the page, each redirect,
every sub-resource):

1. the scheme must be http or https;
2. the host is parsed — IPv6 literals, dotted quads, and the numeric IPv4 spellings resolvers
   accept (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``) — or else resolved once;
3. every address is checked: loopback, private, link-local, CGNAT, multicast, broadcast,
   reserved, unspecified and IPv6 forms that embed such an IPv4 address are refused, unless the
   ``AllowList`` (``KB_FETCH_ALLOW_HOSTS``) names the host (or host:port) as typed.

The answer is a ``Target`` carrying the checked addresses; ``fetch`` connects to those and to
nothing else, so DNS cannot change between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from kb.messages import Text, gettext_noop
from snapshots.capture import errors

__all__ = [
    "DEFAULT_PORTS",
    "AllowList",
    "IPAddress",
    "NameCache",
    "Target",
    "check_url",
    "parse_ipv4_spelling",
    "refusal_reason",
    "split_web_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Target:
    """A checked hop: where to connect (``addresses``) for ``url``'s scheme, host and port."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def check_url(url: str, allow_list: AllowList, names: NameCache | None = None) -> Target:
    """Parse, resolve once and check ``url``; raise a ``CaptureError`` if it may not be fetched.

    ``url`` should already be normalised (``requests`` prepared); ``fetch`` does that. With
    ``names``, a host already looked up in this capture is not looked up again.
    """
    parts = split_web_url(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError as error:
        raise errors.InvalidURL(url, str(error)) from None
    if not host:
        raise errors.InvalidURL(url, gettext_noop("it has no host"))
    scheme = parts.scheme.lower()
    port = port or DEFAULT_PORTS[scheme]
    allowed = allow_list.allows(host, port)

    if ":" in host:  # urlsplit strips the brackets of an IPv6 literal
        try:
            literal: IPAddress = ipaddress.IPv6Address(host)
        except ValueError:
            detail = Text.of(gettext_noop("%(host)s is not an IPv6 address"), host=host)
            raise errors.InvalidURL(url, detail) from None
        addresses = [literal]
        spelled = "literal"
    elif (numeric := parse_ipv4_spelling(host)) is not None:
        addresses = [numeric]
        spelled = "literal" if str(numeric) == host else "numeric"
    else:
        addresses = names.resolve(host, port) if names is not None else _resolve(host, port)
        spelled = "name"

    if not allowed:
        for address in addresses:
            reason = refusal_reason(address)
            if reason is not None:
                shown = host if spelled == "literal" else str(address)
                raise errors.BlockedAddress(host, shown, reason, spelled=spelled)
    return Target(url, scheme, host, port, tuple(str(a) for a in addresses))


def split_web_url(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise errors.InvalidURL(url, str(error)) from None
    scheme = parts.scheme.lower()
    if not scheme or (scheme not in DEFAULT_PORTS and not parts.netloc and "." in scheme):
        raise errors.InvalidURL(url, gettext_noop("it should start with http:// or https://"))
    if scheme not in DEFAULT_PORTS:
        raise errors.UnsupportedScheme(scheme)
    return parts


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError:
        raise errors.InvalidURL(host, gettext_noop("the host name is not valid")) from None
    except socket.gaierror as error:
        not_found = error.errno in {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)}
        sentence = Text.of(gettext_noop("could not find the server %(host)s"), host=host)
        raise errors.ConnectionFailed(sentence, transient=not not_found) from None
    addresses: list[IPAddress] = []
    for family, *_, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        sentence = Text.of(gettext_noop("could not find the server %(host)s"), host=host)
        raise errors.ConnectionFailed(sentence, transient=False)
    return addresses


class NameCache:
    """The DNS answers of one capture: each host is looked up once, its answer (or failure) reused.

    A page with 80 assets on three hosts costs three lookups, not 80, and every asset of a host
    goes to the addresses checked for the first one. Shared by the capture's fetching threads.
    """

    def __init__(self, resolve: Callable[[str, int], list[IPAddress]] | None = None) -> None:
        self._resolve = resolve or _resolve
        self._answers: dict[tuple[str, int], list[IPAddress] | errors.CaptureError] = {}
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], threading.Event] = {}

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        key = (host.lower(), port)
        while True:
            with self._lock:
                if key in self._answers:
                    answer = self._answers[key]
                    break
                waiting = self._pending.get(key)
                if waiting is None:
                    self._pending[key] = threading.Event()
            if waiting is not None:  # another thread is asking: wait for its answer
                waiting.wait()
                continue
            answer = None
            try:
                answer = self._resolve(host, port)
            except errors.CaptureError as error:
                answer = error
            finally:  # anything else is not kept: the next asker tries again
                with self._lock:
                    if answer is not None:
                        self._answers[key] = answer
                    self._pending.pop(key).set()
            break
        if isinstance(answer, errors.CaptureError):
            raise answer
        return list(answer)


# --- which addresses are refused ----------------------------------------------------------------

# An address is only ever in a network of its own version.
_REFUSED = [
    (ipaddress.ip_network(net), label)
    for net, label in (
        # IPv4
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
        # IPv6
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
# What Python's ipaddress flags beyond the table, asked in this order.
_FLAGGED = {
    "is_loopback": gettext_noop("a loopback address"),
    "is_link_local": gettext_noop("a link-local address"),
    "is_multicast": gettext_noop("a multicast address"),
    "is_unspecified": gettext_noop("an unspecified address"),
    "is_private": gettext_noop("a private address"),
    "is_reserved": gettext_noop("a reserved address"),
    "is_site_local": gettext_noop("a site-local address"),
}
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
                    reason=errors.as_text(reason),
                    address=str(embedded),
                    form=form,
                )
            if form == "IPv4-mapped IPv6" or form == "NAT64":
                # These reach exactly the embedded IPv4 address, which is public.
                return None
    for network, label in _REFUSED:
        if address in network:
            return label
    for flag, label in _FLAGGED.items():
        if getattr(address, flag, False):  # IPv4 addresses have no is_site_local
            return label
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


# --- numeric spellings of an IPv4 address -------------------------------------------------------

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


# --- the allow-list -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AllowList:
    """The internal targets opened on purpose, for intranets and tests.

    Entries are ``host`` (any port) or ``host:port`` (``[v6]:port`` for IPv6), matched against
    the host as typed in the URL; a match opens it even if it is loopback or private.
    """

    hosts: frozenset[str] = frozenset()
    host_ports: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        hosts: set[str] = set()
        host_ports: set[tuple[str, int]] = set()
        for entry in entries:
            parsed = _split_allow_entry(entry)
            if parsed is None:
                continue  # a malformed entry opens nothing
            host, port = parsed
            if port is None:
                hosts.add(host)
            else:
                host_ports.add((host, port))
        return cls(frozenset(hosts), frozenset(host_ports))

    def allows(self, host: str, port: int) -> bool:
        """True if ``host`` (as typed, lowercased) or ``host:port`` is on the allow-list."""
        key = _canonical_literal(host)
        return key in self.hosts or (key, port) in self.host_ports


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
