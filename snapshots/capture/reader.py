"""The reader text made to stand on its own: images from the capture's copies, layout tables out.

The reader HTML that extraction writes still points at the live site for its images, which the
site's CSP blocks (and which may be gone). Here each image becomes a ``kb-asset:<sha256>``
reference to the copy the capture kept, or goes when there is none; the reader page turns those
references into addresses of kb's own (``snapshots.views.archive.reader``).

Old table-layout pages (common on Chinese sites) reach the reader text as one big table whose
cells hold the menu, the article and the footer; such a table is taken apart into its cells, and
the cells that are nothing but links (the navigation) are left out.
"""

from __future__ import annotations

from urllib.parse import urldefrag, urljoin

import lxml.html
from lxml import etree

from snapshots.capture.archive import ASSET_SCHEME

__all__ = ["reader_with_stored_images"]

# A cell at least this much link text, with at least this many links, is navigation.
_NAVIGATION_LINK_SHARE = 0.7
_NAVIGATION_LINKS = 3
_BLOCKS_IN_LAYOUT = ("table", "h1", "h2", "h3", "ul", "ol", "blockquote", "pre", "img")


def reader_with_stored_images(html: str, base_url: str, images: dict[str, str]) -> str:
    """``html`` with every ``<img>`` pointing at its kept copy (``kb-asset:<sha>``) or removed,
    and layout tables taken apart (their navigation cells dropped)."""
    if not html or not html.strip():
        return html
    container = lxml.html.fragment_fromstring(html, create_parent="div")
    for img in list(container.iter("img")):
        src = (img.get("src") or "").strip()
        sha = images.get(urldefrag(urljoin(base_url, src))[0]) if src else None
        if sha:
            img.set("src", ASSET_SCHEME + sha)
        else:
            _remove(img)
    for table in list(container.iter("table")):
        if table.getparent() is not None and _is_layout(table):
            _take_apart(table)
    return (container.text or "") + "".join(
        lxml.html.tostring(child, encoding="unicode") for child in container
    )


def _is_layout(table: etree._Element) -> bool:
    """A table that holds page structure (other tables, headings, lists) rather than data."""
    return any(
        next(cell.iter(*_BLOCKS_IN_LAYOUT), None) is not None for cell in table.iter("td", "th")
    )


def _take_apart(table: etree._Element) -> None:
    """Replace the table by its cells' content, one paragraph-like block per cell, leaving out
    the cells that are navigation."""
    parent = table.getparent()
    index = parent.index(table)
    blocks = []
    for cell in list(table.iter("td", "th")):
        if cell.getparent() is None or any(a.tag in ("td", "th") for a in cell.iterancestors()):
            continue  # nested cells travel with their outer cell
        if _is_navigation(cell):
            continue
        cell.tag = "div"
        cell.attrib.clear()
        blocks.append(cell)
    tail = table.tail
    parent.remove(table)
    for offset, block in enumerate(blocks):
        block.tail = None
        parent.insert(index + offset, block)
    if tail:
        if blocks:
            blocks[-1].tail = tail
        else:
            previous = parent[index - 1] if index > 0 else None
            if previous is not None:
                previous.tail = (previous.tail or "") + tail
            else:
                parent.text = (parent.text or "") + tail
    for block in blocks:
        for table in list(block.iter("table")):
            if table is not block and table.getparent() is not None and _is_layout(table):
                _take_apart(table)


def _is_navigation(cell: etree._Element) -> bool:
    text = " ".join(cell.text_content().split())
    links = list(cell.iter("a"))
    if not text or len(links) < _NAVIGATION_LINKS:
        return False
    linked = sum(len(" ".join(a.text_content().split())) for a in links)
    return linked / len(text) >= _NAVIGATION_LINK_SHARE


def _remove(el: etree._Element) -> None:
    """Remove ``el`` but keep the text after it."""
    parent = el.getparent()
    tail = el.tail
    previous = el.getprevious()
    parent.remove(el)
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
