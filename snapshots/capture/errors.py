"""The typed errors of a capture, each carrying the sentence a user reads.

A ``CaptureError`` says why a capture failed in plain English (``sentence``) and whether trying
again may help (``transient``: timeouts, broken connections, 429 and 5xx answers). Sentences are
built with ``gettext_noop`` and ``Text`` (kb.messages), so the pages can show them in the
reader's language while ``Snapshot.error`` and the API keep the English. The task layer stores
them; no Django import here.
"""

from __future__ import annotations

import http
from typing import Any

from kb.messages import Text, gettext_noop

__all__ = [
    "BlockedAddress",
    "CaptureError",
    "ConnectionFailed",
    "DamagedResponse",
    "FetchTimeout",
    "HTTPStatusError",
    "InvalidURL",
    "TooLarge",
    "TooManyRedirects",
    "UnsupportedScheme",
    "as_text",
]


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
        shown_reason = as_text(reason)
        if spelled in ("name", "numeric"):
            if spelled == "name":
                template = gettext_noop("refused: %(host)s resolves to %(address)s, %(reason)s")
            else:
                template = gettext_noop("refused: %(host)s means %(address)s, %(reason)s")
            sentence = Text.of(template, host=host, address=address, reason=shown_reason)
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
                detail=as_text(detail),
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


CONNECT_TIMEOUT = gettext_noop("the server did not accept a connection within %(time)s")
READ_TIMEOUT = gettext_noop("the server did not answer within %(time)s")
DEADLINE = gettext_noop("the capture did not finish within the time allowed")
# The sentences of a host that hung: the queue gives such a host one capture at a time.
TIMEOUT_SENTENCES = (CONNECT_TIMEOUT, READ_TIMEOUT, DEADLINE)


class FetchTimeout(CaptureError):
    """``phase`` is ``connect``, ``read`` or ``deadline`` (the whole capture ran out of time)."""

    def __init__(self, phase: str, seconds: float | None = None) -> None:
        if phase == "connect":
            sentence = Text.of(CONNECT_TIMEOUT, time=_format_seconds(seconds))
        elif phase == "read":
            sentence = Text.of(READ_TIMEOUT, time=_format_seconds(seconds))
        else:
            sentence = DEADLINE
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


def as_text(sentence: str) -> str:
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
