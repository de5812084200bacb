"""Bytes of a fetched page → text, without mojibake; and the UTF-8 declaration of the archive.

The order is a browser's: byte order mark, then the charset of the HTTP Content-Type header,
then ``<meta charset>`` / ``<meta http-equiv="Content-Type">`` (or an XML declaration) near the
top, then detection. w3lib's ``html_to_unicode`` does the first three and maps labels the way
the WHATWG Encoding Standard does (gb2312/gbk → gb18030, latin-1/ascii → windows-1252,
shift_jis → cp932, euc-kr → cp949, big5 → big5hkscs). Detection accepts strict UTF-8 first,
then asks charset-normalizer, looking at the text between tags (the markup is ASCII and would
only dilute the evidence). ``response.text`` is never used.

The archive is stored as UTF-8, so ``ensure_utf8_meta`` rewrites the page to say so: one
``<meta charset="utf-8">`` first in ``<head>``, every other declaration removed.

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

__all__ = ["Decoded", "decode", "detect_encoding", "ensure_utf8_meta"]

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


# --- the archive's own declaration --------------------------------------------------------------

_UTF8_META = '<meta charset="utf-8">'
# The rest of a start tag as the HTML tokenizer reads it: a quote opens a value only after "=",
# a quoted value may hold ">", and an unclosed tag or value runs to the end of the input (as it
# does in a browser), so every match ends at a ">" or the end and the scan stays linear.
_TAG_REST = r"""(?:[^>=]|=\s*(?:"[^"]*(?:"|\Z)|'[^']*(?:'|\Z))?)*(?:>|\Z)"""
_COMMENT = r"<!--.*?(?:-->|\Z)"
_META_TAG = re.compile(rf"{_COMMENT}|<meta(?=[\s/>]){_TAG_REST}", re.I | re.S)
_HEAD_OPEN = re.compile(rf"{_COMMENT}|<head(?=[\s/>]){_TAG_REST}", re.I | re.S)
_HTML_OPEN = re.compile(rf"{_COMMENT}|<html(?=[\s/>]){_TAG_REST}", re.I | re.S)
_PREAMBLE = re.compile(rf"\A(?:\s|{_COMMENT}|<!doctype[^>]*>|<\?xml[^>]*>)*", re.I | re.S)
_XML_DECLARATION = re.compile(r"\A(\s*<\?xml\b[^>]*?\bencoding\s*=\s*)([\"'])[^\"']*\2", re.I)
_ATTRIBUTE = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""", re.S)


def ensure_utf8_meta(html: str) -> str:
    """Make ``html`` declare UTF-8 and nothing else.

    Removes every ``<meta charset>`` and ``<meta http-equiv="Content-Type">`` (outside
    comments), puts ``<meta charset="utf-8">`` right after the ``<head>`` start tag (after
    ``<html>``, or at the top after a doctype, when there is none), and says ``encoding="utf-8"``
    in a leading XML declaration. Everything else is left byte for byte.
    """
    html = _META_TAG.sub(_drop_charset_meta, html)
    html = _XML_DECLARATION.sub(r"\1\2utf-8\2", html, count=1)
    for opening, template in (
        (_HEAD_OPEN, "{tag}{meta}"),
        (_HTML_OPEN, "{tag}<head>{meta}</head>"),
    ):
        match = _first_tag(opening, html)
        if match is not None:
            insert = template.format(tag=match.group(), meta=_UTF8_META)
            return html[: match.start()] + insert + html[match.end() :]
    end = _PREAMBLE.match(html).end()  # type: ignore[union-attr] - matches the empty string
    return html[:end] + _UTF8_META + html[end:]


def _first_tag(pattern: re.Pattern[str], html: str) -> re.Match[str] | None:
    for match in pattern.finditer(html):
        if not match.group().startswith("<!--"):
            return match
    return None


def _drop_charset_meta(match: re.Match[str]) -> str:
    tag = match.group()
    if tag.startswith("<!--"):
        return tag
    attributes = {
        name.lower(): next((v for v in values if v), "")
        for name, *values in _ATTRIBUTE.findall(tag[len("<meta") :].removesuffix(">"))
    }
    if "charset" in attributes:
        return ""
    pragma = attributes.get("http-equiv", "").strip().lower()
    if pragma == "content-type":
        return ""
    return tag
