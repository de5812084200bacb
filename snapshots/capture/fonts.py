"""Which ``@font-face`` faces a page uses: only those are stored.

Sites declare whole families (every weight, every ``unicode-range`` slice of a web font service)
and use a few. Like the static engine's other choices, this one reads the page as Chrome would
at 1280 px, without running it: a face is used when some rule of the page names its family in
``font-family`` (or the ``font`` shorthand, or a custom property holding a font stack), and, when
it has a ``unicode-range``, some character of the page's text falls in that range.

``FontUse.of_page`` reads every stylesheet of the page (``<style>``, ``style`` attributes and the
linked ones with their ``@import``\\ s, through the capture's own fetch) before the walk inlines
any of them. Pure Python, no Django.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lxml import etree

from snapshots.capture.references import absolute

__all__ = ["FontUse", "face_family", "face_unicode_range"]

# (text, the URL it came from) of a stylesheet, or None when it could not be had
StylesheetText = Callable[[str], tuple[str, str] | None]

_FONT_FACE_BLOCK = re.compile(r"@font-face\s*\{[^}]*\}?", re.I)
_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.S)
# the declarations that name families: font-family, the font shorthand, custom properties
# (a superset: "icon-font:" matches too, and names no face by accident)
_FAMILY_DECLARATION = re.compile(r"(?:font|--[\w-]+)(?:-family)?\s*:\s*([^;{}]+)", re.I)
_IMPORT = re.compile(r"""@import\s+(?:url\(\s*)?["']?([^"')\s;]+)""", re.I)
_RANGE = re.compile(r"u\+([0-9a-f?]{1,6})(?:-([0-9a-f]{1,6}))?", re.I)
_QUOTES = "\"' \t\n\r\f"
_MAX_IMPORT_DEPTH = 5


@dataclass
class FontUse:
    """The families a page's rules name and the characters of its text."""

    families: set[str] = field(default_factory=set)
    characters: set[int] = field(default_factory=set)
    _sorted: list[int] = field(default_factory=list, repr=False)

    @classmethod
    def of_page(cls, root: etree._Element, base: str, stylesheet: StylesheetText) -> FontUse:
        use = cls()
        use.read_page(root, base, stylesheet)
        return use

    def read_page(self, root: etree._Element, base: str, stylesheet: StylesheetText) -> None:
        """Add what the page (or a frame of it) names and shows."""
        for css in _page_stylesheets(root, base, stylesheet):
            self.read_css(css)
        for el in root.iter("font"):
            self.families.update(_names(el.get("face") or ""))
        body = root.find("body")
        text = "".join(
            body.xpath("//text()[not(ancestor::script or ancestor::style)]")
            if body is not None
            else root.itertext()
        )
        self.characters.update(map(ord, set(text)))

    def read_css(self, css: str) -> None:
        if "font" not in css and "--" not in css:
            return
        if "/*" in css:
            css = _COMMENT.sub("", css)
        css = _FONT_FACE_BLOCK.sub("", css)
        for m in _FAMILY_DECLARATION.finditer(css):
            self.families.update(_names(m.group(1)))

    def wants(self, family: str, unicode_range: str) -> bool:
        """Is the face of ``family`` (covering ``unicode_range``, "" for all) used?"""
        if _name(family) not in self.families:
            return False
        ranges = list(_ranges(unicode_range))
        if not ranges:
            return True
        if len(self._sorted) != len(self.characters):
            self._sorted = sorted(self.characters)
        codes = self._sorted
        for low, high in ranges:
            at = bisect_left(codes, low)
            if at < len(codes) and codes[at] <= high:
                return True
        return False


def face_family(declarations: list[str]) -> str:
    return _declared(declarations, "font-family")


def face_unicode_range(declarations: list[str]) -> str:
    return _declared(declarations, "unicode-range")


def _declared(declarations: list[str], wanted: str) -> str:
    value = ""
    for declaration in declarations:
        name, _, text = declaration.partition(":")
        if name.strip().lower() == wanted:
            value = text.strip()
    return value


def _page_stylesheets(root: etree._Element, base: str, stylesheet: StylesheetText) -> Iterator[str]:
    for el in root.iter("base"):
        if el.get("href"):
            base = absolute(base, el.get("href") or "") or base
            break
    seen: set[str] = set()
    for el in root.iter("link", "style"):
        if el.tag == "style":
            yield from _with_imports(el.text or "", base, stylesheet, seen, 0)
            continue
        rels = set((el.get("rel") or "").lower().split())
        if "stylesheet" in rels and "alternate" not in rels and el.get("href"):
            url = absolute(base, el.get("href") or "")
            if url:
                yield from _linked(url, stylesheet, seen, 0)
    for value in root.xpath("//@style"):
        yield f"x{{{value}}}"


def _linked(url: str, stylesheet: StylesheetText, seen: set[str], depth: int) -> Iterator[str]:
    if url in seen or depth > _MAX_IMPORT_DEPTH:
        return
    seen.add(url)
    answer = stylesheet(url)
    if answer is not None:
        text, final_url = answer
        yield from _with_imports(text, final_url or url, stylesheet, seen, depth)


def _with_imports(
    css: str, base: str, stylesheet: StylesheetText, seen: set[str], depth: int
) -> Iterator[str]:
    yield css
    for m in _IMPORT.finditer(_COMMENT.sub("", css)):
        url = absolute(base, m.group(1))
        if url and not url.startswith("data:"):
            yield from _linked(url, stylesheet, seen, depth + 1)


def _names(value: str) -> set[str]:
    """Every name a font stack (or a ``font`` shorthand: "italic 12px/1.5 Open Sans") may mean."""
    names = set()
    for part in value.split(","):
        words = part.replace("!important", "").split()
        for start in range(len(words)):  # the shorthand puts the family after style and size
            names.add(_name(" ".join(words[start:])))
    return names


def _name(family: str) -> str:
    return " ".join(family.strip(_QUOTES).lower().split())


def _ranges(unicode_range: str) -> Iterator[tuple[int, int]]:
    for m in _RANGE.finditer(unicode_range):
        start, end = m.group(1), m.group(2)
        if "?" in start:
            yield int(start.replace("?", "0"), 16), int(start.replace("?", "f"), 16)
        else:
            yield int(start, 16), int(end or start, 16)
