"""The files of one capture: each URL fetched at most once, within the limits, typed and kept.

A ``Collector`` is what the HTML walk (``inline``) and the CSS rewriter (``css``) ask for a
file: ``image``, ``resource`` (anything CSS points at), ``media`` or ``stylesheet``. Each answers
a ``kb-asset:<sha256>`` reference to the bytes it kept in ``assets``, or None after recording why
in ``failures``. A failing file is counted, never fatal. Every fetch goes through the ``fetch``
it was given (in a capture, ``fetch.fetch`` with the capture's policy, so the SSRF guard checks
each one).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urldefrag

from snapshots.capture.archive import ASSET_SCHEME, EMPTY_DATA_URI, Asset
from snapshots.capture.css import decode_css, has_references, rewrite_css
from snapshots.capture.errors import CaptureError
from snapshots.capture.fetch import Response
from snapshots.capture.fonts import FontUse
from snapshots.capture.references import parse_data_url
from snapshots.capture.sniff import image_type, looks_like_html, media_type, resource_type

__all__ = ["Collector", "Fetcher", "Limits"]

Fetcher = Callable[[str], Response]

LIMIT_SENTENCE = "asset limit reached"
CSS_TYPE = "text/css;charset=utf-8"


@dataclass(frozen=True)
class Limits:
    max_assets: int = 300
    max_total_bytes: int = 50 * 1024 * 1024
    # audio and video larger than this are left out (replaced by a link), never inlined
    max_media_bytes: int = 2 * 1024 * 1024


class Collector:
    """One capture's files: fetches each distinct URL once, keeps assets, counts failures."""

    def __init__(self, fetch: Fetcher, limits: Limits) -> None:
        self.fetch = fetch
        self.limits = limits
        self.assets: dict[str, Asset] = {}
        self.failures: list[tuple[str, str]] = []
        self.bytes_fetched = 0
        self.inlined_urls: set[str] = set()
        self._kept = 0  # files that arrived: the budget counts these, not attempts
        self._responses: dict[str, Response | None] = {}
        self._refs: dict[tuple[str, str], str | None] = {}
        self._failure_keys: set[tuple[str, str]] = set()
        # the faces the page uses (inline sets it before the walk); None keeps every face
        self.font_use: FontUse | None = None

    # ---- outcomes ---------------------------------------------------------------------------

    def fail(self, url: str, sentence: str) -> None:
        if (url, sentence) not in self._failure_keys:
            self._failure_keys.add((url, sentence))
            self.failures.append((url, sentence))

    def store(self, url: str, body: bytes, content_type: str) -> str:
        sha = hashlib.sha256(body).hexdigest()
        self.assets.setdefault(sha, Asset(content_type, body))
        self.inlined_urls.add(url)
        return ASSET_SCHEME + sha

    # ---- fetching ---------------------------------------------------------------------------

    def get(self, url: str) -> Response | None:
        """The successful response for `url`, fetched at most once; None (and a failure) if not."""
        if url in self._responses:
            return self._responses[url]
        self._responses[url] = None
        limits = self.limits
        if self._kept >= limits.max_assets or self.bytes_fetched >= limits.max_total_bytes:
            self.fail(url, LIMIT_SENTENCE)
            return None
        try:
            response = self.fetch(url)
        except CaptureError as exc:
            self.fail(url, exc.sentence)
            return None
        except Exception:  # noqa: BLE001 - a failing asset is skipped and counted, never fatal
            self.fail(url, "it could not be fetched")
            return None
        self.bytes_fetched += len(response.body)
        if self.bytes_fetched > limits.max_total_bytes:
            self.fail(url, LIMIT_SENTENCE)
            return None
        if not 200 <= response.status < 300:
            self.fail(url, f"the server answered {response.status}")
            return None
        self._kept += 1
        self._responses[url] = response
        return response

    def _memo(self, kind: str, url: str, make: Callable[[str], str | None]) -> str | None:
        key = (kind, url)
        if key not in self._refs:
            self._refs[key] = make(url)
        return self._refs[key]

    def wants_font(self, family: str, unicode_range: str) -> bool:
        return self.font_use is None or self.font_use.wants(family, unicode_range)

    def stylesheet_text(self, url: str) -> tuple[str, str] | None:
        """A stylesheet's text and final URL, read before the walk (fetched once, as always)."""
        response = self.get(url)
        if response is None or looks_like_html(response.body):
            return None
        return decode_css(response.body, response.charset), response.final_url or url

    # ---- files by kind ----------------------------------------------------------------------

    def image(self, url: str) -> str | None:
        return self._memo(
            "image", url, lambda url: self._keep(url, image_type, "it is not an image")
        )

    def image_ref(self, url: str | None) -> str | None:
        """``image(url)``, keeping the URL's ``#fragment`` (an SVG view) on the reference."""
        if not url:
            return None
        address, fragment = urldefrag(url)
        ref = self.image(address)
        return f"{ref}#{fragment}" if ref and fragment else ref

    def image_shas(self) -> dict[str, str]:
        """Every image kept so far, by the address it came from: address → sha256.

        The reader text refers to images by their live address; this is how it finds their copy.
        """
        prefix = len(ASSET_SCHEME)
        return {
            url: ref[prefix:] for (kind, url), ref in self._refs.items() if kind == "image" and ref
        }

    def resource(self, url: str) -> str | None:
        """Anything CSS points at (images, fonts, cursors) or a subtitle track."""
        return self._memo(
            "resource",
            url,
            lambda url: self._keep(
                url, resource_type, "the server sent a web page instead of the file"
            ),
        )

    def media(self, url: str) -> str | None:
        def make(url: str) -> str | None:
            response = self.get(url)
            if response is not None and len(response.body) > self.limits.max_media_bytes:
                megabytes = self.limits.max_media_bytes / (1024 * 1024)
                self.fail(url, f"audio and video over {megabytes:g} MB are left out")
                return None
            return self._keep(url, media_type, "it is not an audio or video file")

        return self._memo("media", url, make)

    def _keep(
        self, url: str, type_of: Callable[[bytes, str, str], str | None], refusal: str
    ) -> str | None:
        """Keep the file at ``url`` under the type ``type_of`` gives it, or fail with ``refusal``."""
        response = self.get(url)
        if response is None:
            return None
        content_type = type_of(response.body, response.content_type, url)
        if content_type is None:
            self.fail(url, refusal)
            return None
        return self.store(url, response.body, content_type)

    def stylesheet(
        self, url: str, stack: tuple[str, ...] = (), integrity: str | None = None
    ) -> str | None:
        if integrity:
            response = self.get(url)
            if response is None:
                return None
            if not _integrity_ok(response.body, integrity):
                self.fail(url, "it does not match its integrity hash")
                return None
        if url in stack or len(stack) > 20:  # an @import cycle (or absurd depth): drop the rule
            return None
        key = ("css", url)
        if key in self._refs:
            return self._refs[key]
        response = self.get(url)
        if response is None:
            self._refs[key] = None
            return None
        declared = (response.content_type or "").lower()
        if declared == "text/html" or (declared != "text/css" and looks_like_html(response.body)):
            self.fail(url, "it is not a stylesheet")
            self._refs[key] = None
            return None
        text = decode_css(response.body, response.charset)
        base = response.final_url or url
        css = rewrite_css(text, base, (*stack, url), self)
        ref = self.store(url, css.encode("utf-8"), CSS_TYPE)
        self._refs[key] = ref
        return ref

    def data_stylesheet(self, data_url: str, stack: tuple[str, ...]) -> str | None:
        """A data: stylesheet that itself refers to other files: rewritten like any other.

        Its relative references cannot resolve (a data: URL has no base) and are dropped.
        Returns None when the data: URL can stay as it is.
        """
        parsed = parse_data_url(data_url)
        if parsed is None:
            return EMPTY_DATA_URI
        text = decode_css(parsed[1], None)
        if not has_references(text):
            return None
        css = rewrite_css(text, None, stack, self)
        sha = hashlib.sha256(css.encode("utf-8")).hexdigest()
        self.assets.setdefault(sha, Asset(CSS_TYPE, css.encode("utf-8")))
        return ASSET_SCHEME + sha


def _integrity_ok(body: bytes, integrity: str) -> bool:
    """Subresource Integrity: the body matches one of the strongest hashes listed (or none listed)."""
    strength = {"sha256": 1, "sha384": 2, "sha512": 3}
    hashes: dict[str, list[str]] = {}
    for token in integrity.split():
        algorithm, _, value = token.partition("-")
        if algorithm.lower() in strength and value:
            hashes.setdefault(algorithm.lower(), []).append(value.partition("?")[0])
    if not hashes:
        return True
    algorithm = max(hashes, key=strength.__getitem__)
    digest = base64.b64encode(hashlib.new(algorithm, body).digest()).decode("ascii")
    return any(value == digest for value in hashes[algorithm])
