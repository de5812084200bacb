"""Bytes of a fetched page → text, without mojibake.

The order is a browser's: byte order mark, then the charset of the HTTP Content-Type header,
then ``<meta charset>`` / ``<meta http-equiv="Content-Type">`` (or an XML declaration) near the
top, then detection. w3lib's ``html_to_unicode`` does the first three and maps labels the way
the WHATWG Encoding Standard does (gb2312/gbk → gb18030, latin-1/ascii → windows-1252,
shift_jis → cp932, euc-kr → cp949, big5 → big5hkscs). Detection accepts strict UTF-8 first,
then asks charset-normalizer, looking at the text between tags (the markup is ASCII and would
only dilute the evidence). ``response.text`` is never used.

No Django import here.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import charset_normalizer
from w3lib.encoding import (
    html_body_declared_encoding,
    html_to_unicode,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
)

__all__ = ["Decoded", "decode", "detect_encoding"]

# Enough text for detection; charset-normalizer samples within it.
_DETECTION_BYTES = 256 * 1024
# Each alternative also ends at the end of input, so an unclosed tag or comment is consumed
# once instead of being rescanned from every later "<" (which would be quadratic).
_MARKUP = re.compile(
    rb"<!--.*?(?:-->|\Z)|<script\b.*?(?:</script\s*>|\Z)|<style\b.*?(?:</style\s*>|\Z)"
    rb"|<[^>]*(?:>|\Z)",
    re.S | re.I,
)


@dataclass(frozen=True)
class Decoded:
    """The page as text, and the encoding (a Python codec name) it was decoded from."""

    text: str
    encoding: str


def decode(body: bytes, content_type_header: str | None = None) -> Decoded:
    """Decode an HTML (or CSS, or text) body; undecodable bytes become U+FFFD, never an error."""
    header = content_type_header
    if read_bom(body)[0] is None and http_content_type_encoding(header) is None:
        declared = html_body_declared_encoding(body)
        if declared is not None and declared.startswith(("utf-16", "utf-32")):
            # Without a BOM an ASCII-compatible page cannot be UTF-16; browsers read UTF-8.
            header = "text/html; charset=utf-8"
    encoding, text = html_to_unicode(
        header, body, default_encoding="cp1252", auto_detect_fun=detect_encoding
    )
    return Decoded(text=text, encoding=codecs.lookup(encoding).name)


def detect_encoding(body: bytes) -> str | None:
    """Guess the encoding of ``body`` that declares none: strict UTF-8, else charset-normalizer."""
    if len(body) <= _DETECTION_BYTES:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return _guess(body)
        return "utf-8"
    sample = body[:_DETECTION_BYTES]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(sample) - 4:  # not just a character cut by the sample's end
            return _guess_cut_sample(sample)
    return "utf-8"


def _guess_cut_sample(sample: bytes) -> str | None:
    """Guess from a sample cut out of a longer body, never ending inside a character.

    A detector shown half a character rejects the right encoding. Ending after a newline, space
    or ">" is safe (no trail byte of GBK, GB18030, Big5, Shift_JIS or EUC-KR is one of them);
    a long run of CJK text has none, so then try the ends one, two and three bytes shorter.
    """
    cut = max(sample.rfind(b"\n"), sample.rfind(b" "), sample.rfind(b">"))
    if cut > len(sample) // 2:
        return _guess(sample[: cut + 1])
    for shorter in range(4):
        guess = _guess(sample[: len(sample) - shorter])
        if guess is not None:
            return guess
    return None


def _guess(sample: bytes) -> str | None:
    text_only = _MARKUP.sub(b" ", sample)
    for candidate in (text_only, sample) if len(text_only) >= 64 else (sample,):
        best = charset_normalizer.from_bytes(candidate).best()
        if best is not None:
            return resolve_encoding(best.encoding) or best.encoding
    return None
