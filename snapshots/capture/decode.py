"""Bytes of a fetched page → text, without mojibake.

The order is a browser's: byte order mark, then the charset of the HTTP Content-Type header,
then ``<meta charset>`` / ``<meta http-equiv="Content-Type">`` (or an XML declaration) near the
top, then detection. w3lib's ``html_to_unicode`` does the first three and maps labels the way
the WHATWG Encoding Standard does (gb2312/gbk → gb18030, latin-1/ascii → windows-1252,
shift_jis → cp932, euc-kr → cp949, big5 → big5hkscs). Its meta prescan reads up to the
``<body>`` within the first 4096 bytes rather than WHATWG's 1024, as Chrome keeps looking while it
is still in the ``<head>``: a page's own declaration beats any guess. Detection accepts strict
UTF-8 first, then asks charset-normalizer, looking at the text between tags (the markup is ASCII
and would only dilute the evidence). ``response.text`` is never used.

charset-normalizer gives up on a CJK encoding when the page holds even one broken character (a
title cut in the middle of a character is common on old Chinese forums) and then offers a
single-byte code page such as ptcp154, which turns the whole page into Cyrillic mojibake. So
when its guess is a single-byte code page, the page is also read as GB18030, Big5, Shift_JIS and
EUC-KR; one that leaves almost no broken characters and reads as CJK text wins, the way a
browser's detector would. The page's ``lang`` and its address's country domain (.cn, .tw, .jp,
.kr, ...) say which of those to prefer, as Chrome uses the top-level domain as a hint.

No Django import here.
"""

from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

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
# The CJK multi-byte encodings a page without a declaration may be in, in the order tried
# when nothing hints at one of them.
_CJK_ENCODINGS = ("gb18030", "big5hkscs", "cp932", "cp949")
# Characters of CJK text: ideographs, kana, hangul, CJK and full-width punctuation.
_CJK_TEXT = re.compile(
    "[\u3000-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]"
)
# A CJK reading must show this much CJK text, and its non-ASCII characters must mostly be that:
# Latin accents read as GBK become a few scattered ideographs, never a page of them.
_MIN_CJK_CHARACTERS = 16
_MIN_CJK_SHARE = 0.8
# Broken characters tolerated per CJK character (a cut title, a stray byte), and at least this many.
_BROKEN_PER_CJK = 1 / 200
_MIN_BROKEN_TOLERATED = 2
# Plenty of text to tell the CJK readings apart, and four readings of it stay cheap.
_CJK_READING_BYTES = 64 * 1024
# What the text of each language is mostly made of: the commonest Chinese characters (simplified
# and traditional), hiragana, the commonest hangul syllables.
_COMMON_CHINESE = frozenset(
    "的一是不了在人有我他这個个们們中来來上大为為和国國地到以说說时時要就出会會可也你对對生能而子"
    "那得于於着著下自之年过過发發后後作里裡用道行所然家种種事成方多经經么麼去法学學如都同现現当當"
    "没沒动動面起看定天分还還进進好小部其些主样樣理心她本前开開但因只从從想实實這"
)
_COMMON_KOREAN = frozenset(
    "이다는의에가을를고하지한서기로도으사나니들리대어습있적정수해게자인보요것그아시라년일경우문만또제주부"
    "상전면과히와야간말되국내여생없"
)
_TELLTALE = {
    "gb18030": _COMMON_CHINESE,
    "big5hkscs": _COMMON_CHINESE,
    "cp932": frozenset(chr(code) for code in range(0x3041, 0x30A0)),
    "cp949": _COMMON_KOREAN,
}
_LANG = re.compile(rb"<html\b[^>]*?\blang\s*=\s*[\"']?\s*([a-z]{2,3}(?:[-_][a-z0-9]+)*)", re.I)
_HINT_BY_LANG = {"zh": "gb18030", "ja": "cp932", "ko": "cp949"}
_TRADITIONAL_CHINESE = {"tw", "hk", "mo", "hant"}
_HINT_BY_DOMAIN = {
    "cn": "gb18030",
    "tw": "big5hkscs",
    "hk": "big5hkscs",
    "mo": "big5hkscs",
    "jp": "cp932",
    "kr": "cp949",
}


@dataclass(frozen=True)
class Decoded:
    """The page as text, and the encoding (a Python codec name) it was decoded from."""

    text: str
    encoding: str


def decode(body: bytes, content_type_header: str | None = None, url: str | None = None) -> Decoded:
    """Decode an HTML (or CSS, or text) body; undecodable bytes become U+FFFD, never an error.

    ``url`` (the page's address) only hints which CJK encoding to prefer when nothing is declared.
    """
    header = content_type_header
    if read_bom(body)[0] is None and http_content_type_encoding(header) is None:
        declared = html_body_declared_encoding(body)
        if declared is not None and declared.startswith(("utf-16", "utf-32")):
            # Without a BOM an ASCII-compatible page cannot be UTF-16; browsers read UTF-8.
            header = "text/html; charset=utf-8"
    hint = _cjk_hint(body, url)
    encoding, text = html_to_unicode(
        header,
        body,
        default_encoding="cp1252",
        auto_detect_fun=functools.partial(detect_encoding, hint=hint),
    )
    return Decoded(text=text, encoding=codecs.lookup(encoding).name)


def detect_encoding(body: bytes, hint: str | None = None) -> str | None:
    """Guess the encoding of ``body`` that declares none: strict UTF-8, else charset-normalizer
    checked against the CJK encodings (``hint``, one of them, is preferred)."""
    if len(body) <= _DETECTION_BYTES:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return _guess(body, hint)
        return "utf-8"
    sample = body[:_DETECTION_BYTES]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(sample) - 4:  # not just a character cut by the sample's end
            return _guess_cut_sample(sample, hint)
    return "utf-8"


def _guess_cut_sample(sample: bytes, hint: str | None) -> str | None:
    """Guess from a sample cut out of a longer body, never ending inside a character.

    A detector shown half a character rejects the right encoding. Ending after a newline, space
    or ">" is safe (no trail byte of GBK, GB18030, Big5, Shift_JIS or EUC-KR is one of them);
    a long run of CJK text has none, so then try the ends one, two and three bytes shorter.
    """
    cut = max(sample.rfind(b"\n"), sample.rfind(b" "), sample.rfind(b">"))
    if cut > len(sample) // 2:
        return _guess(sample[: cut + 1], hint)
    for shorter in range(4):
        guess = _guess(sample[: len(sample) - shorter], hint)
        if guess is not None:
            return guess
    return None


def _guess(sample: bytes, hint: str | None = None) -> str | None:
    text_only = _MARKUP.sub(b" ", sample)
    evidence = text_only if len(text_only) >= 64 else sample
    guess = _charset_normalizer_guess(text_only, sample)
    if guess is not None and not _is_single_byte(guess):
        if hint is not None and hint != guess and guess in _CJK_ENCODINGS:
            # GBK and Big5 bytes overlap: the hint settles a tie between two good readings.
            return _cjk_reading(evidence, (hint, guess)) or guess
        return guess
    return _cjk_reading(evidence, _cjk_candidates(hint)) or guess


def _charset_normalizer_guess(text_only: bytes, sample: bytes) -> str | None:
    for candidate in (text_only, sample) if len(text_only) >= 64 else (sample,):
        best = charset_normalizer.from_bytes(candidate).best()
        if best is not None:
            return resolve_encoding(best.encoding) or best.encoding
    return None


def _cjk_reading(sample: bytes, candidates: tuple[str, ...]) -> str | None:
    """The encoding of ``candidates`` (best first on a tie) that reads ``sample`` as the most
    plausible CJK text, or None when none reads it as CJK text with few broken characters.

    Broken characters cannot tell these encodings apart (Shift_JIS and Big5 bytes are valid
    GB18030 too), but the text can: Japanese is full of hiragana, Korean of hangul, Chinese of
    its most common characters; a wrong reading gives rare ideographs.
    """
    best, best_score = None, -1.0
    sample = sample[:_CJK_READING_BYTES]  # a character cut at its end is one broken, tolerated
    for encoding in candidates:
        text = sample.decode(encoding, "replace")
        broken = text.count("\ufffd")
        non_ascii = len(text) - len(text.encode("ascii", "ignore")) - broken
        if broken > max(_MIN_BROKEN_TOLERATED, int(non_ascii * _BROKEN_PER_CJK)):
            continue  # more broken than even an all-CJK reading would be allowed
        cjk = _CJK_TEXT.findall(text)
        tolerated = max(_MIN_BROKEN_TOLERATED, int(len(cjk) * _BROKEN_PER_CJK))
        if (
            len(cjk) >= _MIN_CJK_CHARACTERS
            and broken <= tolerated
            and len(cjk) >= _MIN_CJK_SHARE * non_ascii
        ):
            score = sum(map(_TELLTALE[encoding].__contains__, cjk)) / len(cjk)
            if score > best_score:
                best, best_score = encoding, score
    return best


def _cjk_candidates(hint: str | None) -> tuple[str, ...]:
    if hint is None:
        return _CJK_ENCODINGS
    return (hint, *(encoding for encoding in _CJK_ENCODINGS if encoding != hint))


def _cjk_hint(body: bytes, url: str | None) -> str | None:
    """The CJK encoding the page's ``<html lang>``, else its address's country domain, suggests."""
    match = _LANG.search(body[:4096])
    if match is not None:
        parts = re.split(r"[-_]", match.group(1).decode("ascii").lower())
        if parts[0] == "zh" and _TRADITIONAL_CHINESE.intersection(parts[1:]):
            return "big5hkscs"
        if parts[0] in _HINT_BY_LANG:
            return _HINT_BY_LANG[parts[0]]
        return None  # a page that says it is in another language is not hinted by its domain
    host = urlsplit(url).hostname if url else None
    if host:
        return _HINT_BY_DOMAIN.get(host.rstrip(".").rsplit(".", 1)[-1])
    return None


@functools.cache
def _is_single_byte(encoding: str) -> bool:
    """True for a code page that reads every byte as one character (cp1252, ptcp154, koi8-r, ...)."""
    try:
        return len(bytes(range(256)).decode(encoding, "replace")) == 256
    except LookupError:
        return False
