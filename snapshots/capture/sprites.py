"""External SVG sprites (``<use href="icons.svg#id">``), copied into the page they serve.

``<use>`` cannot reference a ``data:`` URL, so the symbols of an external SVG file must live in
the document itself: each file is parsed once, cleaned (no scripts, handlers or foreign
elements; its own images inlined through the collector), its ids given a prefix so they cannot
collide with the page's, and appended to ``<body>`` in a hidden ``<svg>``.
"""

from __future__ import annotations

import hashlib

import lxml.html
from lxml import etree

from snapshots.capture.collector import Collector
from snapshots.capture.css import rewrite_css
from snapshots.capture.references import ID_REF, absolute, clean, may_fetch
from snapshots.capture.tree import keep_own_text, remove

__all__ = ["Sprites"]

_SVG_PARSER = etree.XMLParser(
    remove_comments=True, remove_pis=True, no_network=True, load_dtd=False, huge_tree=False
)
_SPRITE_STYLE = "position:absolute;width:0;height:0;overflow:hidden"
_SVG_NS = "{http://www.w3.org/2000/svg}"
_XLINK_NS = "{http://www.w3.org/1999/xlink}"


class Sprites:
    """The sprite files of one page, each copied into it at most once."""

    def __init__(self, collector: Collector, root: etree._Element) -> None:
        self.collector = collector
        self.root = root
        self._prefixes: dict[str, str | None] = {}

    def include(self, url: str) -> str | None:
        """Copy an external SVG file into the page once; the id prefix its ids got, or None.

        `<use>` cannot reference a data: URL, so the symbols must live in the document itself.
        """
        if url in self._prefixes:
            return self._prefixes[url]
        self._prefixes[url] = None
        response = self.collector.get(url)
        if response is None:
            return None
        try:
            svg = etree.fromstring(response.body, parser=_SVG_PARSER)
        except (etree.XMLSyntaxError, ValueError):
            svg = None
        if svg is None or etree.QName(svg).localname != "svg":
            self.collector.fail(url, "it is not a valid SVG file")
            return None
        sha = hashlib.sha256(response.body).hexdigest()
        prefix = f"kb{sha[:10]}-"
        self._sanitize(svg, prefix, response.final_url or url)
        container = lxml.html.Element("svg")
        container.set("aria-hidden", "true")
        container.set("focusable", "false")
        container.set("style", _SPRITE_STYLE)
        container.set("data-kb-sprite", "")
        container.extend(list(svg))
        body = self._body()
        body.insert(len(self._inserted()), container)
        self.collector.inlined_urls.add(url)
        self._prefixes[url] = prefix
        return prefix

    def _inserted(self) -> list[etree._Element]:
        body = self._body()
        return [c for c in body if c.tag == "svg" and c.get("data-kb-sprite") is not None]

    def _body(self) -> etree._Element:
        root = self.root
        body = root.find("body")
        if body is None:
            body = etree.SubElement(root, "body")
        return body

    def _sanitize(self, svg: etree._Element, prefix: str, base: str) -> None:
        """Namespaces off, ids prefixed, scripts and handlers out, its own images inlined."""

        def rename_refs(value: str) -> str:
            return ID_REF.sub(
                lambda m: f"url({m.group(1)}#{prefix}{m.group(2)}{m.group(1)})", value
            )

        stack = [svg]
        while stack:
            el = stack.pop()
            tag = el.tag
            name = etree.QName(el).localname
            foreign = tag.startswith("{") and not tag.startswith(_SVG_NS)
            if foreign or name in ("script", "foreignObject", "iframe"):
                remove(el)
                continue
            el.tag = name
            for key in list(el.attrib):
                value = el.attrib.pop(key)
                if key.startswith("{") and not key.startswith(_XLINK_NS):
                    continue
                local = etree.QName(key).localname if key.startswith("{") else key
                if local.lower().startswith("on") or ":" in local:
                    continue
                if local == "href":
                    value = self._href(name, clean(value), prefix, base)
                    if not value:
                        continue
                elif local == "id":
                    value = prefix + value
                elif local == "style":
                    value = rename_refs(rewrite_css(value, base, (), self.collector))
                elif "url(" in value.lower() or "\\" in value:
                    value = rename_refs(value)
                    if may_fetch(value):
                        continue
                el.set(local, value)
            if name == "style":
                keep_own_text(el)  # its CSS is its own text: no rule hides in a child's tail
                if el.text:
                    el.text = rename_refs(rewrite_css(el.text, base, (), self.collector))
            stack.extend(c for c in el if isinstance(c.tag, str))
        etree.cleanup_namespaces(svg)

    def _href(self, tag: str, ref: str, prefix: str, base: str) -> str:
        if ref.startswith("#"):
            return f"#{prefix}{ref[1:]}"
        if tag == "image":
            return self.collector.image_ref(absolute(base, ref)) or ""
        if tag == "a":
            return absolute(base, ref) or ""
        return ""
