"""The parsed page (an lxml tree): parsing it as a browser does, and moving parts of it.

``parse_page`` reads any HTML (even none) with an HTML5 parser into a document with a ``<head>``
and a ``<body>`` (or a ``<frameset>``).
``remove``, ``unwrap`` and ``replace`` take elements out or swap them while keeping the text
around them, which lxml keeps in ``.tail`` and would otherwise lose.
"""

from __future__ import annotations

import re

import lxml.html
from lxml import etree
from selectolax.lexbor import LexborHTMLParser, LexborNode

from snapshots.capture.archive import ASSET_SCHEME, neutralize_refs

__all__ = [
    "declare_utf8",
    "escape_style_markup",
    "keep_own_text",
    "neutralize_document",
    "parse_page",
    "remove",
    "replace",
    "unwrap",
]

_HTML_PARSER = etree.HTMLParser(  # plain elements: lxml.html's class lookup costs per element
    encoding="utf-8", remove_comments=True, remove_pis=True, huge_tree=True, default_doctype=False
)

# C0 controls are not allowed in lxml strings; a form feed is whitespace to HTML
_CONTROLS = {**dict.fromkeys([*range(0, 9), 11, *range(14, 32)]), 12: " "}
_SURROGATE = re.compile("[\ud800-\udfff]")
# the doctype an HTML5 parser honours: the first thing, after whitespace and comments
_DOCTYPE = re.compile(r"\ufeff?(?:\s|<!--.*?-->)*<!doctype(?=[\s>])([^>]*)>", re.I | re.DOTALL)
# attribute names a browser reads back as the same one name (the tokenizer allows more)
_ATTRIBUTE_NAME = re.compile(r"[^\s\"'<>/=]+")


def parse_page(html: str) -> tuple[etree._Element, str]:
    """The document a browser builds from ``html`` (an HTML5 parser), and its doctype.

    The stripping must see exactly the elements a browser will: libxml2's HTML 4 parser reads
    ``<svg><style><img onerror=…>`` as CSS text where a browser builds an ``<img>``. Lexbor (through
    selectolax) parses as the HTML standard says, with scripting off, so ``<noscript>`` holds
    markup; the result is copied into an lxml tree for the surgery and the serialisation.
    """
    text = html.translate(_CONTROLS)
    if _SURROGATE.search(text):  # lone surrogates (from a lenient decoder) cannot be encoded
        text = text.encode("utf-8", "replace").decode("utf-8")
    parsed = LexborHTMLParser(text)
    root = _copy_tree(parsed.root)
    m = _DOCTYPE.match(text)
    doctype = f"<!DOCTYPE {' '.join(m.group(1).split())}>" if m and m.group(1).strip() else ""
    return root, doctype


def _copy_tree(html_node: LexborNode) -> etree._Element:
    """The lxml copy of a parsed document: elements, attributes and text (comments dropped).

    Names are lowercased as libxml2 did (``feimage``, ``viewbox``); browsers restore SVG's case.
    A ``<template>``'s content becomes its children, sanitised like the rest of the page.
    """
    root = _HTML_PARSER.makeelement("html", _attributes(html_node))
    pending = [(root, html_node)]
    while pending:
        parent, node = pending.pop()
        child = _first_child(node)
        last = None
        while child is not None:
            if child.is_element_node:
                tag = child.tag.lower()
                try:
                    el = etree.SubElement(parent, tag, _attributes(child))
                except ValueError:  # a name lxml refuses: an unknown element to a browser too
                    el = etree.SubElement(parent, "span", _attributes(child))
                last = el
                pending.append((el, child))
            elif child.is_text_node:
                data = child.text_content
                if data:
                    if last is None:
                        parent.text = (parent.text or "") + data
                    else:
                        last.tail = (last.tail or "") + data
            child = child.next
    return root


def _first_child(node: LexborNode) -> LexborNode | None:
    if node.tag == "template":
        fragments = node.template_fragments()
        return fragments[0].child if fragments else None
    return node.child


def _attributes(node: LexborNode) -> dict[str, str]:
    attributes = node.attributes
    if not attributes:
        return {}
    return {
        name.lower(): value or ""
        for name, value in attributes.items()
        if _ATTRIBUTE_NAME.fullmatch(name)
    }


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


# where a browser starts markup in text: a tag, an end tag, a comment or a bogus comment
_MARKUP_START = re.compile(r"<(?=[A-Za-z/!?])")


def escape_style_markup(root: etree._Element) -> None:
    """Write each ``<`` that could open markup in a ``<style>`` as the CSS escape ``\\3c ``.

    lxml serialises style text raw. In HTML that is right, but a ``<style>`` inside ``<svg>`` or
    ``<math>`` is read by a browser as markup: its text ``<img onerror=…>`` (an entity in the
    page) would come back as an element. The escape means the same character to CSS, in a
    string, a url() or a comment, and ends no ``</style>`` either.
    """
    for el in list(root.iter("style")):
        keep_own_text(el)  # lxml would write its children's tails raw too
        if el.text and "<" in el.text:
            el.text = _MARKUP_START.sub(r"\\3c ", el.text)


def keep_own_text(el: etree._Element) -> None:
    """Drop the child elements of `el`, keeping its own text (theirs is their tails).

    A ``<style>`` in ``<svg>`` or ``<math>`` can hold elements; its CSS is only its own text.
    """
    if len(el):
        el.text = "".join([el.text or "", *(child.tail or "" for child in el)])
        for child in list(el):
            el.remove(child)
