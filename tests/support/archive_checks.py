"""Checks on an archived (assembled) page: what would a browser fetch from the network?

`network_references(html)` lists every URL in the document that a browser would request when
showing it — from elements, style attributes, <style> blocks and, recursively, from stylesheets
embedded as data: URIs. Only the targets of <a>/<area> links are left out: they are navigation,
not fetches, and an archive keeps them pointing at the live site on purpose.

It is written independently of snapshots.capture.inline (its own CSS scanning, its own data:
decoding) so that it checks that code rather than repeats it.

`active_content(html)` lists what would run or navigate by itself once a browser has parsed the
file (an HTML5 parser, as the browser: foreign content and template contents included).
"""

import base64
import re
from urllib.parse import unquote_to_bytes

import lxml.html
from lxml import etree
from selectolax.lexbor import LexborHTMLParser, LexborNode

_CSS_STRING = r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'"""
_CSS_URL = re.compile(
    r"""(?<![\w-])url\(\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^)\s]*)\s*\)""", re.IGNORECASE
)
# comments and strings are matched (and skipped) so that a url( inside them is not taken
_CSS_TOKENS = re.compile(
    rf"""/\*.*?(?:\*/|\Z)
    |@import\s*(?P<import>{_CSS_STRING})
    |(?<![\w-])url\(\s*(?P<url>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^)\s]*)\s*\)
    |(?P<imageset>(?<![\w-])(?:-webkit-)?image-set\()
    |{_CSS_STRING}""",
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
_REFRESH_URL = re.compile(r"url\s*=\s*['\"]?([^'\"]+)", re.IGNORECASE)

# attributes a browser fetches (or submits to, or pings) by element; "*" is any element
_FETCHED = {
    "img": ("src", "srcset", "lowsrc", "longdesc"),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "input": ("src", "formaction"),
    "button": ("formaction",),
    "form": ("action",),
    "script": ("src",),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data", "codebase"),
    "applet": ("code", "codebase", "archive"),
    "link": ("href", "imagesrcset"),
    "base": ("href",),
    "html": ("manifest",),
    "image": ("href", "xlink:href"),
    "feimage": ("href", "xlink:href"),
    "use": ("href", "xlink:href"),
    "body": ("background",),
    "table": ("background",),
    "td": ("background",),
    "th": ("background",),
    "*": ("ping",),
}
_SVG_URL_PROPERTIES = (
    "fill",
    "stroke",
    "filter",
    "mask",
    "clip-path",
    "cursor",
    "marker-start",
    "marker-mid",
    "marker-end",
)


def network_references(html: str) -> list[str]:
    """Every URL in `html` that a browser would fetch: not data:, not a fragment, not a link."""
    root = lxml.html.document_fromstring(
        html.encode("utf-8") or b"<html></html>", parser=lxml.html.HTMLParser(encoding="utf-8")
    )
    found: list[str] = []
    for el in root.iter(etree.Element):
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        for name in _FETCHED.get(tag, ()) + _FETCHED["*"]:
            value = el.get(name)
            if value is None:
                continue
            urls = _srcset_urls(value) if name.endswith("srcset") else [value]
            found.extend(u for u in urls if _is_network(u))
        if tag == "meta" and (el.get("http-equiv") or "").lower() == "refresh":
            m = _REFRESH_URL.search(el.get("content") or "")
            if m and _is_network(m.group(1)):
                found.append(m.group(1))
        if tag == "iframe" and el.get("srcdoc"):
            found.extend(network_references(el.get("srcdoc")))
        if tag == "style" and el.text:
            found.extend(_css_references(el.text))
        if tag == "link" and "stylesheet" in (el.get("rel") or "").lower():
            found.extend(_data_css_references(el.get("href") or ""))
        if el.get("style"):
            found.extend(_css_references(el.get("style")))
        for name in _SVG_URL_PROPERTIES:
            if el.get(name) and "url(" in el.get(name):
                found.extend(_css_references(el.get(name)))
    return found


def _srcset_urls(value: str) -> list[str]:
    """The URLs of a srcset, split as HTML does (a URL runs to whitespace; commas inside stay)."""
    urls, i, n = [], 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        start = i
        while i < n and not value[i].isspace():
            i += 1
        url = value[start:i]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth = 0
            while i < n and not (value[i] == "," and depth == 0):
                depth += (value[i] == "(") - (value[i] == ")")
                i += 1
        if url:
            urls.append(url)
    return urls


def _is_network(url: str) -> bool:
    url = url.strip()
    if not url or url.startswith("#"):
        return False
    return not url.lower().startswith(("data:", "about:blank"))


def _css_references(css: str, depth: int = 0) -> list[str]:
    targets = []
    for m in _CSS_TOKENS.finditer(css):
        if m.group("import"):
            targets.append(m.group("import"))
        elif m.group("url"):
            targets.append(m.group("url"))
        elif m.group("imageset"):  # inside image-set(), a bare string is a URL
            end = css.find(")", m.end())
            inner = css[m.end() : end if end >= 0 else len(css)]
            targets += [u.group(1) for u in _CSS_URL.finditer(inner)]
            targets += re.findall(_CSS_STRING, _CSS_URL.sub("", inner))
    found = []
    for target in targets:
        value = target.strip()
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        if _is_network(value):
            found.append(value)
        elif depth < 10:
            found.extend(_data_css_references(value, depth + 1))
    return found


def _data_css_references(url: str, depth: int = 0) -> list[str]:
    """The references inside a data: URI, when it holds a stylesheet."""
    url = url.strip()
    if not url.lower().startswith("data:text/css"):
        return []
    head, _, data = url.partition(",")
    raw = unquote_to_bytes(data)
    if ";base64" in head.lower():
        raw = base64.b64decode(raw + b"===")
    return _css_references(raw.decode("utf-8", "replace"), depth)


_ACTIVE_TAGS = frozenset(
    {"script", "base", "iframe", "frame", "embed", "object", "applet", "portal"}
)


def active_content(html: str) -> list[str]:
    """What would run or navigate by itself in `html` as a browser builds it: scripts, handlers,
    refreshes, bases, frames and objects, javascript: URLs."""
    found = []
    pending = [LexborHTMLParser(html).root]
    while pending:
        node = pending.pop()
        if node is None:
            continue
        if node.is_element_node:
            tag = (node.tag or "").lower()
            attributes = node.attributes
            if _is_inert_frame(tag, attributes):
                # a sandboxed document of its own: what is in it counts
                found.extend(active_content(attributes.get("srcdoc") or ""))
                attributes = {k: v for k, v in attributes.items() if k != "srcdoc"}
            elif tag in _ACTIVE_TAGS:
                found.append(f"<{tag}>")
            if tag == "meta" and (attributes.get("http-equiv") or "").lower() == "refresh":
                found.append("<meta http-equiv=refresh>")
            for name, value in attributes.items():
                if name.lower().startswith("on"):
                    found.append(f"<{tag} {name}>")
                elif "javascript:" in re.sub(r"[\s\x00-\x1f]", "", value or "").lower():
                    found.append(f"<{tag} {name}=javascript:>")
            if tag == "template":
                pending.extend(f.child for f in node.template_fragments()[:1])
        pending.extend(_children(node))
    return found


def _is_inert_frame(tag: str, attributes: dict) -> bool:
    """An iframe the archive keeps: a srcdoc document, sandboxed with no permission, no src."""
    return (
        tag == "iframe"
        and attributes.get("sandbox") == ""
        and "src" not in attributes
        and attributes.get("srcdoc") is not None
    )


def _children(node: LexborNode) -> list[LexborNode]:
    children, child = [], node.child
    while child is not None:
        children.append(child)
        child = child.next
    return children
