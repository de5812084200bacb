"""CSS: find every reference a stylesheet makes, and rewrite it to a ``kb-asset:`` reference.

``rewrite_css`` walks a stylesheet (or a ``style`` attribute) token by token — comments,
strings, ``url()``, ``@import`` and ``image-set()`` — and asks a ``Loader`` for the asset each
reference names: an image, font or cursor (``resource``), an imported stylesheet (``stylesheet``,
rewritten the same way in turn) or a ``data:`` stylesheet. A reference that cannot be inlined
becomes an empty ``data:`` URI, so nothing in the archive reaches the network.

Before that, each ``@font-face`` keeps only the ``src`` a browser would download. The tokenizer
finds where tokens start with ``bytes.find`` and their ends with ``str.find``: Python's regex
engine crawls over large stylesheets and megabyte ``data:`` fonts.

That scanner is fast, not complete: CSS escapes (``u\\72l(``, ``@\\69mport``, ``\\75rl(``) and
the way a bad url() or string ends make it miss references a browser fetches. So a real CSS
tokenizer (tinycss2) has the last word: ``only_inert_references`` reads the rewritten CSS as a
browser would and turns every reference still pointing at the network into an empty ``data:``
URI. On ordinary CSS it finds nothing and the text stays exactly as the scanner wrote it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import NamedTuple, Protocol
from urllib.parse import urldefrag

import tinycss2
from tinycss2.ast import FunctionBlock, Node, ParseError, StringToken, URLToken
from w3lib.encoding import resolve_encoding

from snapshots.capture.archive import EMPTY_DATA_URI, neutralize_refs
from snapshots.capture.fonts import face_family, face_unicode_range
from snapshots.capture.references import WHITESPACE, absolute, clean, is_inert, scheme_of
from snapshots.capture.sniff import extension_type

__all__ = [
    "Loader",
    "decode_css",
    "has_references",
    "only_inert_references",
    "rewrite_css",
    "split_top_level",
]


class Loader(Protocol):
    """Gives the ``kb-asset:`` reference of each file a stylesheet names, or None."""

    def resource(self, url: str) -> str | None: ...
    def stylesheet(self, url: str, stack: tuple[str, ...]) -> str | None: ...
    def data_stylesheet(self, data_url: str, stack: tuple[str, ...]) -> str | None: ...
    def wants_font(self, family: str, unicode_range: str) -> bool: ...


# "unrolled" patterns (runs of plain characters, then one escape) stay fast on huge data: URIs
_STR_DQ = r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"?'
_STR_SQ = r"'[^'\\\n]*(?:\\.[^'\\\n]*)*'?"
_URL_FN = (
    r"""(?<![\w-])url\(\s*(?:"[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\]*(?:\\.[^'\\]*)*'"""
    r"""|[^\s"'()\\]*(?:\\(?:[0-9a-fA-F]{1,6}[ \t\n\r\f]?|.)[^\s"'()\\]*)*)\s*\)"""
)
_CSS_IMPORT = re.compile(
    rf"@import\s*(?P<target>{_URL_FN}|{_STR_DQ}|{_STR_SQ})(?P<rest>[^;{{}}]*);?",
    re.IGNORECASE | re.DOTALL,
)
_CSS_STRING = re.compile(rf"{_STR_DQ}|{_STR_SQ}", re.DOTALL)
_URL_TOKEN = re.compile(_URL_FN, re.IGNORECASE | re.DOTALL)
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|(.))", re.DOTALL)
_CSS_HINTS = (b"url(", b"@import", b"image-set(")
# a reference the scanner does not look for, or an escape that could spell one
_HIDDEN_HINTS = (*_CSS_HINTS, b"\\", b"src(", b"image(")
_UNSCANNED_FUNCTIONS = (b"src(", b"image(")
# what ends a string where the scanner would not: CR and FF in a string; any newline in a url()
_ENDS_A_STRING = ("\r\f", "\r\f\n")
_CHARSET_RULE = re.compile(r'^\ufeff?@charset\s+"[^"]*"\s*;?', re.IGNORECASE)
_FONT_FACE = re.compile(r"@font-face\s*\{", re.IGNORECASE)
_FONT_FORMAT = re.compile(r"""format\(\s*["']?([\w-]+)""", re.IGNORECASE)
_FONT_FORMATS = frozenset(
    {
        "woff2",
        "woff",
        "truetype",
        "opentype",
        "woff2-variations",
        "woff-variations",
        "truetype-variations",
        "opentype-variations",
        "collection",
    }
)


_SCAN_STARTS = (b"/*", b'"', b"'", b"url(", b"@import", b"image-set(")


def rewrite_css(
    text: str,
    base: str | None,
    stack: tuple[str, ...],
    loader: Loader,
    strings_are_urls: bool = False,
) -> str:
    """Rewrite every url(), @import and image-set() of CSS `text` to kb-asset: references;
    one that cannot be inlined, or that a browser reads where the scanner does not, becomes an
    empty data: URI."""
    text = neutralize_refs(_CHARSET_RULE.sub("", text, count=1))
    low = _ascii_lower(text)
    if not strings_are_urls and not any(hint in low for hint in _HIDDEN_HINTS):
        return text
    text, doubtful = _rewrite_references(text, low, base, stack, loader, strings_are_urls)
    if doubtful or any(name in low for name in _UNSCANNED_FUNCTIONS):
        text = only_inert_references(text)
    return text


def _rewrite_references(
    text: str,
    low: bytes,
    base: str | None,
    stack: tuple[str, ...],
    loader: Loader,
    strings_are_urls: bool,
) -> tuple[str, bool]:
    """The rewritten text, and whether the scanner may have lost step with a browser's
    tokenizer: an escape outside strings and comments, a bad url() or @import, a string that a
    CR or form feed ends (newlines to CSS), a quoted url() that a newline ends."""
    if b"@font-face" in low:
        text = _prune_font_sources(text, low, loader.wants_font)
        low = _ascii_lower(text)
    out: list[str] = []
    pos = 0
    doubtful = False
    for token in _css_tokens(text, low):
        kind, start, end = token.kind, token.start, token.end
        if start < pos:  # inside an image-set() rewritten as a whole
            continue
        out.append(text[pos:start])
        doubtful = doubtful or text.find("\\", pos, start) >= 0 or kind in ("badurl", "badimport")
        if kind in ("string", "url", "import") and not doubtful:
            doubtful = any(text.find(c, start, end) >= 0 for c in _ENDS_A_STRING[kind == "url"])
        pos = end
        if kind == "url":
            value = text[start:end]
            out.append(_rewrite_url(value, _url_token_value(value), base, loader))
        elif kind == "import" and token.match is not None:
            out.append(_rewrite_import(token.match, base, stack, loader))
        elif kind == "imageset":
            close = _block_end_paren(text, end)
            inner_text = text[end:close]
            inner, inner_doubtful = _rewrite_references(
                inner_text, _ascii_lower(inner_text), base, stack, loader, True
            )
            doubtful = doubtful or inner_doubtful
            out.append(text[start:end] + inner)
            pos = close
        elif kind == "string" and strings_are_urls:
            value = text[start:end]
            out.append(_rewrite_url(value, _string_value(value), base, loader, as_string=True))
        else:
            out.append(text[start:end])
    out.append(text[pos:])
    return "".join(out), doubtful or text.find("\\", pos) >= 0


def _rewrite_url(
    token: str, value: str, base: str | None, loader: Loader, as_string: bool = False
) -> str:
    value = clean(value)
    if not value or value.startswith("#") or scheme_of(value) == "data":
        return token
    url = absolute(base, value)
    ref = None
    if url is not None:
        address, fragment = urldefrag(url)
        ref = loader.resource(address)
        if ref and fragment:
            ref += "#" + fragment
    target = ref or EMPTY_DATA_URI
    return f'"{target}"' if as_string else f'url("{target}")'


def _rewrite_import(
    m: re.Match[str], base: str | None, stack: tuple[str, ...], loader: Loader
) -> str:
    target = m.group("target")
    value = _url_token_value(target) if target[:1] not in ('"', "'") else _string_value(target)
    value = clean(value)
    rest = m.group("rest")
    if scheme_of(value) == "data":
        ref = loader.data_stylesheet(value, stack)
        return m.group(0) if ref is None else f'@import url("{ref}"){rest};'
    url = absolute(base, value)
    ref = loader.stylesheet(urldefrag(url)[0], stack) if url else None
    return f'@import url("{ref}"){rest};' if ref else ""


def has_references(text: str) -> bool:
    """True if CSS ``text`` may name another file (a ``url()``, ``@import``, ``image-set()``, or
    an escape that could spell one)."""
    low = _ascii_lower(text)
    return any(hint in low for hint in _HIDDEN_HINTS)


def decode_css(body: bytes, charset: str | None) -> str:
    """CSS bytes to text: BOM, then the HTTP charset, then @charset, then UTF-8 (CSS Syntax 3.3)."""
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:].decode("utf-8", "replace")
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return body.decode("utf-16", "replace")
    label = charset
    if not label:
        m = re.match(rb'@charset "([^"]{1,40})";', body)
        label = m.group(1).decode("ascii", "replace") if m else None
    codec = resolve_encoding(label) if label else None
    if not codec or codec.startswith("utf-16"):
        codec = "utf-8"
    try:
        return body.decode(codec, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


# --- the last word: a real tokenizer -----------------------------------------------------------

# functions whose string arguments are URLs too; url() and src() are URLs whatever they hold
_URL_FUNCTIONS = frozenset({"url", "src"})
_STRING_URL_FUNCTIONS = frozenset({"image-set", "-webkit-image-set", "image", "-webkit-image"})
_EMPTY_URL = f'url("{EMPTY_DATA_URI}")'


def only_inert_references(css: str) -> str:
    """``css`` with every reference a browser would fetch from the network made an empty
    ``data:`` URI, as tinycss2 tokenizes it (escapes read as a browser reads them).

    Unchanged (the very same text) when every reference is already inert.
    """
    nodes = tinycss2.parse_component_value_list(css)
    return tinycss2.serialize(nodes) if _neutralize(nodes, strings_are_urls=False) else css


def _neutralize(nodes: list[Node], strings_are_urls: bool) -> bool:
    """Replace, in place, each network reference among `nodes` (and inside them); True if any."""
    changed = False
    after_import = False
    for i, node in enumerate(nodes):
        kind = node.type
        if kind in ("whitespace", "comment"):
            continue
        reference = None
        if kind == "error" and node.kind == "bad-url":  # re-serialised as "url([bad url])"
            nodes[i] = _empty_reference(node)
            continue
        if kind == "url" or (kind == "string" and (strings_are_urls or after_import)):
            reference = node.value
        elif kind == "function" and node.lower_name in _URL_FUNCTIONS:
            strings = [a.value for a in node.arguments if a.type == "string"]
            reference = strings[0] if strings else ""
        after_import = kind == "at-keyword" and node.lower_value == "import"
        if reference is not None:
            if not is_inert(reference):
                nodes[i] = _empty_reference(node)
                changed = True
            continue
        if kind == "function":
            inner_strings = node.lower_name in _STRING_URL_FUNCTIONS
            changed = _neutralize(node.arguments, inner_strings) | changed
        elif kind in ("() block", "[] block", "{} block"):
            changed = _neutralize(node.content, strings_are_urls=False) | changed
    return changed


def _empty_reference(node: URLToken | StringToken | FunctionBlock | ParseError) -> Node:
    if node.type == "string":
        return StringToken(node.source_line, node.source_column, EMPTY_DATA_URI, '"data:,"')
    return URLToken(node.source_line, node.source_column, EMPTY_DATA_URI, _EMPTY_URL)


# --- the tokenizer ------------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str  # comment, string, url, import, imageset; badurl, badimport (no match: 1 character)
    start: int
    end: int
    match: re.Match[str] | None = None  # for @import: its target and the rest of the rule


def _css_tokens(text: str, low: bytes) -> Iterator[_Token]:
    """The comments, strings, url(), @import and image-set( tokens of `text`, in order.

    Python's regex engine crawls over large stylesheets (and megabyte data: fonts); finding
    where a token can start with bytes.find, and its end with str.find, is many times faster.
    """
    nexts = [low.find(token) for token in _SCAN_STARTS]
    n = len(text)
    pos = 0
    while True:
        for k, at in enumerate(nexts):
            if 0 <= at < pos:
                nexts[k] = low.find(_SCAN_STARTS[k], pos)
        found = [at for at in nexts if at >= 0]
        if not found:
            return
        start = min(found)
        pos = start + 1
        c = text[start]
        if c == "/":
            end = text.find("*/", start + 2)
            token = _Token("comment", start, n if end < 0 else end + 2)
        elif c in "\"'":
            token = _Token("string", start, _string_end(text, start))
        elif c == "@":
            m = _CSS_IMPORT.match(text, start)
            token = (
                _Token("import", start, m.end(), m) if m else _Token("badimport", start, start + 1)
            )
        elif _word_before(text, start):  # myurl(, background-image-set(: not ours
            if not low.startswith(b"-webkit-image-set(", start - 8):
                continue
            token = _Token("imageset", start - 8, start + 10)
        elif low[start] == ord("u"):
            end = _url_end(text, start)
            token = _Token("url", start, end) if end >= 0 else _Token("badurl", start, start + 1)
        else:
            token = _Token("imageset", start, start + 10)
        yield token
        pos = max(token.end, pos)


def _string_end(text: str, i: int) -> int:
    """End of the CSS string starting at text[i] (a quote); str.find first, a regex on escapes."""
    close = text.find(text[i], i + 1)
    if close >= 0 and text.find("\n", i + 1, close) < 0 and text.find("\\", i + 1, close) < 0:
        return close + 1
    m = _CSS_STRING.match(text, i)
    return m.end() if m else i + 1


def _url_end(text: str, i: int) -> int:
    """End of the url(...) token at text[i], or -1; str.find keeps megabyte data: URIs fast."""
    n = len(text)
    j = i + 4
    while j < n and text[j] in WHITESPACE:
        j += 1
    if j < n and text[j] in "\"'":
        close = text.find(text[j], j + 1)
        simple = close >= 0 and text.find("\\", j + 1, close) < 0
        k = close + 1
    else:
        k = text.find(")", j)
        inner = text[j:k].rstrip(WHITESPACE) if k >= 0 else ""
        simple = k >= 0 and not any(c in inner for c in "\"'(\\ \t\n\r\f")
    if not simple:  # escapes or oddities: the exact (slower) pattern decides
        m = _URL_TOKEN.match(text, i)
        return m.end() if m else -1
    while k < n and text[k] in WHITESPACE:
        k += 1
    return k + 1 if k < n and text[k] == ")" else -1


def _ascii_lower(text: str) -> bytes:
    # same indices as `text` (one byte per character), so bytes.find can locate tokens at C speed
    return text.encode("ascii", "replace").lower()


def _word_before(text: str, i: int) -> bool:
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_-")


def _css_unescape(value: str) -> str:
    if "\\" not in value:
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(1):
            code = int(m.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return "" if m.group(2) == "\n" else m.group(2)

    return _CSS_ESCAPE.sub(one, value)


def _url_token_value(token: str) -> str:
    inner = token[token.index("(") + 1 : token.rindex(")")].strip(WHITESPACE)
    if inner[:1] in ('"', "'"):
        inner = inner[1:-1] if len(inner) > 1 and inner[-1] == inner[0] else inner[1:]
    return _css_unescape(inner)


def _string_value(token: str) -> str:
    inner = token[1:-1] if len(token) > 1 and token[-1] == token[0] else token[1:]
    return _css_unescape(inner)


def split_top_level(text: str, sep: str) -> list[str]:
    """Split CSS `text` on `sep` outside strings, comments and parentheses."""
    parts, depth, start = [], 0, 0
    for i, c in _outside_tokens(text, 0, "()" + sep):
        if c == "(":
            depth += 1
        elif c == ")":
            depth = max(depth - 1, 0)
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _block_end(text: str, start: int) -> int:
    """Index of the `}` closing the block whose body starts at `start` (or len(text))."""
    return _closing(_outside_tokens(text, start, "{}"), "{", "}", len(text))


def _block_end_paren(text: str, start: int) -> int:
    """Index of the `)` closing the parenthesis opened just before `start` (or len(text))."""
    return _closing(_outside_tokens(text, start, "()", strings_only=True), "(", ")", len(text))


def _closing(characters: Iterator[tuple[int, str]], opening: str, closing: str, end: int) -> int:
    depth = 1
    for i, c in characters:
        if c == opening:
            depth += 1
        elif c == closing:
            depth -= 1
            if depth == 0:
                return i
    return end


def _outside_tokens(
    text: str, start: int, wanted: str, strings_only: bool = False
) -> Iterator[tuple[int, str]]:
    """Where each of the `wanted` characters stands in `text` from `start`, outside strings and
    (unless `strings_only`) comments and url() tokens: ``(index, character)`` pairs, in order.

    A regex jumps to the next character that matters, so long runs of plain text cost nothing.
    """
    stops = _stops(wanted if strings_only else "/uU" + wanted)
    i, n = start, len(text)
    while (m := stops.search(text, i)) is not None:
        i = m.start()
        c = text[i]
        if c in "\"'":
            i = _string_end(text, i)
            continue
        if not strings_only:
            if c == "/" and text.startswith("/*", i):
                end = text.find("*/", i + 2)
                i = n if end < 0 else end + 2
                continue
            if c in "uU" and text[i : i + 4].lower() == "url(" and (end := _url_end(text, i)) > 0:
                i = end  # data: fonts are long: skip them whole
                continue
        if c in wanted:
            yield i, c
        i += 1


@functools.cache
def _stops(characters: str) -> re.Pattern[str]:
    """A pattern for a quote or any of `characters`."""
    return re.compile(f"[\"'{re.escape(characters)}]")


# --- @font-face ---------------------------------------------------------------------------------


def _prune_font_sources(css: str, low: bytes, wants: Callable[[str, str], bool]) -> str:
    """Keep only the faces the page uses (``wants(family, unicode_range)``), and in each only the
    `src` a browser would download: the first supported one.

    Fonts are the heaviest part of most pages and are usually offered in 3-5 formats; a browser
    uses one. Older `src` declarations (IE fallbacks) are overridden by the last one and dropped.
    """
    out, pos = [], 0
    while (at := low.find(b"@font-face", pos)) >= 0:
        m = _FONT_FACE.match(css, at)
        if m is None:
            out.append(css[pos : at + 1])
            pos = at + 1
            continue
        body_start = m.end()
        body_end = _block_end(css, body_start)
        declarations = split_top_level(css[body_start:body_end], ";")
        if not wants(face_family(declarations), face_unicode_range(declarations)):
            out.append(css[pos:at])  # the whole rule goes: nothing on the page uses it
            pos = min(body_end + 1, len(css))
            continue
        src_indexes = [
            i for i, d in enumerate(declarations) if d.partition(":")[0].strip().lower() == "src"
        ]
        if src_indexes:
            last = src_indexes[-1]
            name, _, value = declarations[last].partition(":")
            candidates = split_top_level(value, ",")
            kinds = [_font_source(c) for c in candidates]
            urls = [i for i, (kind, _) in enumerate(kinds) if kind == "url"]
            chosen = next((i for i in urls if kinds[i][1]), urls[0] if urls else -1)
            kept = [c for i, c in enumerate(candidates) if i == chosen or kinds[i][0] == "local"]
            declarations[last] = f"{name}:{','.join(kept)}"
            declarations = [
                d for i, d in enumerate(declarations) if i == last or i not in src_indexes
            ]
        out.append(css[pos:body_start])
        out.append(";".join(declarations))
        pos = body_end
    out.append(css[pos:])
    return "".join(out)


def _font_source(candidate: str) -> tuple[str, bool]:
    """("url", supported?) or ("local", True) or ("other", False) for one entry of a src list."""
    stripped = len(candidate) - len(candidate.lstrip(WHITESPACE))
    head = candidate[stripped : stripped + 6].lower()
    if head.startswith("local("):
        return "local", True
    end = _url_end(candidate, stripped) if head.startswith("url(") else -1
    if end < 0:
        return "other", False
    hint = _FONT_FORMAT.search(candidate, end)
    if hint:
        return "url", hint.group(1).lower() in _FONT_FORMATS
    kind = extension_type(_url_token_value(candidate[stripped:end]))
    return "url", kind not in ("application/vnd.ms-fontobject", "image/svg+xml")
