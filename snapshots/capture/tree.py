"""The parsed page (an lxml tree): parsing it as the archive needs, and moving parts of it.

``parse_page`` reads any HTML (even none) into a document with a ``<head>`` and a ``<body>``.
``remove``, ``unwrap`` and ``replace`` take elements out or swap them while keeping the text
around them, which lxml keeps in ``.tail`` and would otherwise lose.
"""

from __future__ import annotations

import lxml.html
from lxml import etree

from snapshots.capture.archive import ASSET_SCHEME, neutralize_refs

__all__ = ["declare_utf8", "neutralize_document", "parse_page", "remove", "replace", "unwrap"]

_HTML_PARSER = etree.HTMLParser(  # plain elements: lxml.html's class lookup costs per element
    encoding="utf-8", remove_comments=True, remove_pis=True, huge_tree=True, default_doctype=False
)

# C0 controls are not allowed in lxml strings (the parser keeps some in attribute values); a
# form feed is whitespace to HTML
_CONTROLS = {**dict.fromkeys([*range(0, 9), 11, *range(14, 32)]), 12: " "}


def parse_page(html: str) -> tuple[etree._Element, str]:
    """The document ``html`` makes, and its doctype (an empty document when nothing parses)."""
    data = html.translate(_CONTROLS).encode("utf-8", "replace")
    root = None
    if data.strip():
        try:
            root = lxml.html.document_fromstring(data, parser=_HTML_PARSER)
        except (etree.ParserError, ValueError):
            root = None
    if root is None:
        root = lxml.html.document_fromstring(
            b"<html><head></head><body></body></html>", parser=_HTML_PARSER
        )
    _fix_void_elements(root)
    doctype = root.getroottree().docinfo.doctype or ""
    return root, doctype


_UNKNOWN_VOID = ("source", "track", "wbr", "embed", "keygen")


def _fix_void_elements(root: etree._Element) -> None:
    """libxml2 does not know these HTML5 void elements and nests what follows inside them."""
    for el in list(root.iter(*_UNKNOWN_VOID)):
        parent = el.getparent()
        if parent is None or (len(el) == 0 and not el.text):
            continue
        moved = list(el)
        after = el.tail or ""
        el.tail = el.text
        el.text = None
        if moved:
            moved[-1].tail = (moved[-1].tail or "") + after
            index = parent.index(el)
            for offset, child in enumerate(moved, start=1):
                parent.insert(index + offset, child)
        else:
            el.tail = (el.tail or "") + after


def remove(el: etree._Element) -> None:
    """Remove `el` and its subtree, keeping the text that follows it."""
    parent = el.getparent()
    if parent is None:
        return
    if el.tail:
        previous = el.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def unwrap(el: etree._Element) -> None:
    """Replace `el` by its children and text."""
    parent = el.getparent()
    if parent is None:
        return
    index = parent.index(el)
    previous = el.getprevious()
    text = el.text or ""
    if previous is not None:
        previous.tail = (previous.tail or "") + text
    else:
        parent.text = (parent.text or "") + text
    children = list(el)
    for offset, child in enumerate(children):
        parent.insert(index + offset, child)
    tail = el.tail or ""
    parent.remove(el)
    if tail:
        if children:
            children[-1].tail = (children[-1].tail or "") + tail
        elif previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail


def replace(el: etree._Element, new: etree._Element) -> None:
    """Put `new` where `el` is, keeping the text that follows it."""
    new.tail = el.tail
    parent = el.getparent()
    if parent is not None:
        parent.replace(el, new)


def neutralize_document(root: etree._Element) -> None:
    """``neutralize_refs`` on every text and attribute of the page."""
    for el in root.iter(etree.Element):
        if el.text and ASSET_SCHEME in el.text:
            el.text = neutralize_refs(el.text)
        if el.tail and ASSET_SCHEME in el.tail:
            el.tail = neutralize_refs(el.tail)
        for name, value in el.attrib.items():
            if ASSET_SCHEME in value:
                el.attrib[name] = neutralize_refs(value)


def declare_utf8(root: etree._Element) -> None:
    """One ``<meta charset="utf-8">`` first in ``<head>``: the archive is stored as UTF-8."""
    head = root.find("head")
    if head is None:
        head = lxml.html.Element("head")
        root.insert(0, head)
    for el in list(head.iter("meta")):
        if el.get("charset") is not None:
            remove(el)
    meta = lxml.html.Element("meta", charset="utf-8")
    head.insert(0, meta)
    head.text = None
