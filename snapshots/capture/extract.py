"""Readable text and metadata of a page: title, author, date, lead image, main text, reader HTML.

trafilatura does the work (one parse of the page, handed to it as a tree); when it finds no main
text, the page's title and its visible text stand in (``used_fallback``). The reader HTML is
sanitized with nh3 whatever its source. ``extract`` never raises: garbage in, an empty Article out.

Pure Python, no Django.
"""

from __future__ import annotations

import logging
import re
from copy import deepcopy
from dataclasses import dataclass
from html import escape
from urllib.parse import urljoin, urlsplit

import lxml.html
import nh3
from lxml import etree
from trafilatura import bare_extraction
from trafilatura.htmlprocessing import convert_to_html
from trafilatura.metadata import extract_metadata

__all__ = ["Article", "extract"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Article:
    title: str
    description: str
    author: str
    site_name: str
    language: str
    published: str | None  # ISO date (YYYY-MM-DD)
    published_is_guess: bool  # True unless the date came from the page's explicit metadata
    image: str  # absolute URL of the lead image, or ""
    text: str  # plain text, paragraphs separated by blank lines
    reader_html: str  # the main text as sanitized HTML
    used_fallback: bool  # True when trafilatura found nothing: title + visible text instead


def extract(html: str, url: str) -> Article:
    """The article in `html` (fetched from `url`)."""
    try:
        return _extract(html, url)
    except Exception:  # a page must never fail its capture because of its extraction
        logger.exception("extraction failed for %s", url)
        return _empty(url)


# --------------------------------------------------------------------------------------------

_PARSER = lxml.html.HTMLParser(
    collect_ids=False,
    default_doctype=False,
    encoding="utf-8",
    remove_comments=True,
    remove_pis=True,
    huge_tree=True,
)
_READER_TAGS = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "code",
    "em", "strong", "b", "i", "a", "img", "table", "thead", "tbody", "tfoot", "tr", "th", "td",
    "caption", "br", "hr",
}  # fmt: skip
_READER_ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt"}, "th": {"colspan", "rowspan"},
                      "td": {"colspan", "rowspan"}}  # fmt: skip
_BLOCKS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "blockquote", "pre", "table", "hr"}
_INVISIBLE = (
    "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed",
    "canvas", "nav", "header", "footer", "aside", "form", "button", "select", "head",
)  # fmt: skip
_FALLBACK_BLOCKS = {
    "p", "div", "section", "article", "main", "li", "dd", "dt", "blockquote", "pre", "td", "th",
    "h1", "h2", "h3", "h4", "h5", "h6", "figcaption", "address", "tr", "hr", "body",
}  # fmt: skip
_INLINE_TAGS = {"i": "em", "b": "strong", "var": "code"}
# trafilatura rescues an extraction shorter than this (its min_extracted_size) with the whole page
_RESCUE_LENGTH = 250
_SPACES = re.compile(r"\s+")
_CONTROLS = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32), 127])
_ISO_DATE = re.compile(r"^\s*(\d{4})[-/]?(\d{2})[-/]?(\d{2})(?!\d)")
_DATE_KEYS = {
    "article:published_time", "og:published_time", "og:article:published_time",
    "article.published", "published_time", "datepublished", "date.published", "pubdate",
    "publishdate", "publish_date", "publish-date", "date", "dc.date", "dc.date.issued",
    "dc.date.created", "dcterms.created", "dcterms.issued", "dcterms.date",
    "citation_publication_date", "citation_date", "citation_online_date", "sailthru.date",
    "parsely-pub-date", "originalpublicationdate", "release_date",
}  # fmt: skip
_JSON_DATE = re.compile(r'"datePublished"\s*:\s*"([^"]+)"')
_CJK = re.compile(r"[\u4e00-\u9fff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")


def _extract(html: str, url: str) -> Article:
    tree = _parse(html)
    if tree is None:
        return _empty(url)
    document = None
    if len(tree) and _has_text(tree):
        document = bare_extraction(
            _without_credits(tree),
            url=url or None,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            include_links=True,
            **_settings(tree),
            output_format="html",  # no text rendering in there: ours comes from the reader HTML
        )
    body = getattr(document, "body", None)
    reader_html = _sanitize(_body_html(body), url) if body is not None else ""
    text = _plain_text(reader_html)
    visible = _visible_text(tree) if len(text) < _RESCUE_LENGTH else ""
    # A short article is still the article (Chinese says in 200 characters what takes 600 in
    # English). The page's visible text stands in only when trafilatura found nothing, or gave
    # its rescue of a page without an article: the whole page, menus and hidden text included,
    # no shorter than what a reader sees.
    used_fallback = not text or (bool(visible) and len(visible) <= len(text))
    if used_fallback:
        text = visible
        paragraphs = visible.split("\n\n") if visible else []
        reader_html = "".join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs)
        if document is None and len(tree):
            document = extract_metadata(tree, default_url=url or None)

    published, is_guess = _published(tree, getattr(document, "date", None), text, url)
    site_name = _text(getattr(document, "sitename", None)) or _meta(tree, "og:site_name")
    return Article(
        # The page's own title (og:title, <title>, then h1): trafilatura prefers a lone <h1>, which is
        # often a section name ("困惑度") rather than the title people know the page by.
        title=_without_site_name(_page_title(tree), site_name)
        or _text(getattr(document, "title", None)),
        description=_text(getattr(document, "description", None)) or _meta(tree, "description"),
        author=_text(getattr(document, "author", None)) or _author(tree),
        site_name=site_name,
        language=_language(tree, text),
        published=published,
        published_is_guess=is_guess,
        image=_absolute(url, getattr(document, "image", None) or _meta(tree, "og:image")),
        text=text,
        reader_html=reader_html,
        used_fallback=used_fallback,
    )


# How trafilatura reads each language best, as bench/extraction.py measured on its two corpora
# (issue 11): Chinese (and Japanese, one page of it) with favor_precision, without images
# (thumbnails keep lists of related links in the text) or bold and italics; the others with
# favor_recall.
_CJK_SETTINGS = {"favor_precision": True, "include_images": False, "include_formatting": False}
SETTINGS_BY_LANGUAGE: dict[str, dict[str, bool]] = {"zh": _CJK_SETTINGS, "ja": _CJK_SETTINGS}
DEFAULT_SETTINGS: dict[str, bool] = {"favor_recall": True}


def _settings(tree: etree._Element) -> dict[str, bool]:
    """trafilatura's settings for the page's language: the one declared, unless its text is
    plainly Chinese (pages copied from a template often declare ``lang="en"``)."""
    language = _language(tree, "")
    if not language.startswith(("ja", "ko")) and _guessed_language(tree) == "zh":
        language = "zh"
    return {
        "include_images": True,
        "include_formatting": True,
        **SETTINGS_BY_LANGUAGE.get(language.partition("-")[0], DEFAULT_SETTINGS),
    }


def _guessed_language(tree: etree._Element) -> str:
    text = "".join(tree.xpath("//body//text()[not(ancestor::script or ancestor::style)]"))
    letters = _SPACES.sub("", text)[:4000]
    return "zh" if len(_CJK.findall(letters)) > 0.3 * len(letters) else ""


# Photo credits and copyright lines ("Photo: Jane Doe / Agency") sit beside the text, not in it.
_CREDIT_CLASSES = re.compile(r"credit|copyright", re.I)
_LONGEST_CREDIT = 200


def _without_credits(tree: etree._Element) -> etree._Element:
    """A copy of ``tree`` without photo credits and copyright widgets (metadata still read from it)."""
    tree = deepcopy(tree)
    for el in list(tree.iter()):
        if (
            isinstance(el.tag, str)
            and el.tag not in ("html", "body", "article", "main")
            and _CREDIT_CLASSES.search(el.get("class") or "")
            and len(el.text_content()) <= _LONGEST_CREDIT
        ):
            _drop(el)
    return tree


def _empty(url: str) -> Article:
    return Article("", "", "", "", "", None, False, "", "", "", True)


def _parse(html: str) -> etree._Element | None:
    if not isinstance(html, str) or not html.strip():
        return None
    data = html.translate(_CONTROLS).encode("utf-8", "replace")
    try:
        return lxml.html.document_fromstring(data, parser=_PARSER)
    except (etree.ParserError, ValueError):
        return None


def _has_text(tree: etree._Element) -> bool:
    body = tree.find("body")
    return body is not None and bool("".join(body.itertext()).strip())


def _text(value: object) -> str:
    return _SPACES.sub(" ", value).strip() if isinstance(value, str) else ""


def _body_html(body: etree._Element) -> str:
    html = convert_to_html(deepcopy(body))
    for el in html.iter("i", "b", "var", "pre"):
        if el.tag == "pre" and el.getparent() is not html[0] and "\n" not in "".join(el.itertext()):
            el.tag = "code"  # trafilatura writes inline code as <pre>
        elif el.tag != "pre":
            el.tag = _INLINE_TAGS[el.tag]
    return "".join(lxml.html.tostring(child, encoding="unicode") for child in html[0])


def _sanitize(html: str, url: str) -> str:
    """Only the reader tags, only absolute http(s) links and images; never scripts or handlers."""
    base_ok = url.startswith(("http://", "https://"))
    return nh3.clean(
        html,
        tags=_READER_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_READER_ATTRIBUTES,
        url_schemes={"http", "https"},
        url_relative=("rewrite_with_base", url) if base_ok else "deny",
        link_rel="noopener noreferrer nofollow",
    ).strip()


def _plain_text(reader_html: str) -> str:
    """Reader HTML → text: one paragraph per block, blank lines between them."""
    if not reader_html:
        return ""
    container = lxml.html.fragment_fromstring(reader_html, create_parent="div")
    for br in container.iter("br"):
        br.tail = "\n" + (br.tail or "")  # a line break still separates words
    paragraphs: list[str] = []
    loose: list[str] = []  # inline content directly at the top level

    def flush_loose() -> None:
        joined = _text("".join(loose))
        if joined:
            paragraphs.append(joined)
        loose.clear()

    loose.append(container.text or "")
    for child in container:
        if child.tag in _BLOCKS:
            flush_loose()
            block = _block_text(child)
            if block:
                paragraphs.append(block)
        else:
            loose.append(child.text_content())
        loose.append(child.tail or "")
    flush_loose()
    return "\n\n".join(paragraphs)


def _block_text(el: etree._Element) -> str:
    if el.tag == "pre":
        return el.text_content().strip("\n")
    if el.tag in ("ul", "ol"):
        items = [_text(li.text_content()) for li in el.iter("li")]
        return "\n".join(f"- {item}" for item in items if item)
    if el.tag == "table":
        rows = []
        for row in el.iter("tr"):
            cells = [_text(cell.text_content()) for cell in row if cell.tag in ("td", "th")]
            if any(cells):
                rows.append(" | ".join(cells))
        return "\n".join(rows)
    return _text(el.text_content())


def _visible_text(tree: etree._Element) -> str:
    """The text a reader sees on a page with no article: no scripts, styles, menus or forms."""
    body = tree.find("body")
    if body is None:
        return ""
    body = deepcopy(body)
    for el in list(body.iter(*_INVISIBLE)):
        _drop(el)
    for el in list(body.iter()):
        if el.get("hidden") is not None or el.get("aria-hidden") == "true":
            _drop(el)
    chunks: list[str] = []
    for event, el in etree.iterwalk(body, events=("start", "end")):
        block = el.tag in _FALLBACK_BLOCKS
        if event == "start":
            chunks.append("\n\n" if block else " " if el.tag == "br" else "")
            chunks.append(el.text or "")
        else:
            chunks.append("\n\n" if block else "")
            if el is not body:
                chunks.append(el.tail or "")
    paragraphs = (_text(p) for p in "".join(chunks).split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p)


def _drop(el: etree._Element) -> None:
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    previous = el.getprevious()
    parent.remove(el)
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail


def _meta(tree: etree._Element, key: str) -> str:
    for el in tree.iter("meta"):
        name = (el.get("property") or el.get("name") or "").strip().lower()
        if name == key and el.get("content"):
            return _text(el.get("content"))
    return ""


def _author(tree: etree._Element) -> str:
    # trafilatura rejects some names (CJK ones among them) that a page states plainly
    for key in ("author", "article:author", "dc.creator", "byl"):
        value = _meta(tree, key)
        if value and not value.startswith(("http://", "https://")):
            return value.removeprefix("By ").removeprefix("by ")
    return ""


def _page_title(tree: etree._Element) -> str:
    og = _meta(tree, "og:title")
    if og:
        return og
    title = tree.find(".//title")
    if title is not None and title.text_content().strip():
        return _text(title.text_content())
    h1 = tree.find(".//h1")
    return _text(h1.text_content()) if h1 is not None else ""


_TITLE_SEPARATORS = (" - ", " | ", " — ", " – ", " · ", " :: ", "_", "｜", " » ")


def _without_site_name(title: str, site_name: str) -> str:
    """``"Slow water | Fixture Garden"`` → ``"Slow water"`` when the site is called Fixture Garden."""
    if not site_name or title == site_name:
        return title
    for separator in _TITLE_SEPARATORS:
        suffix = separator + site_name
        if title.endswith(suffix) and len(title) > len(suffix):
            return title[: -len(suffix)].strip()
    return title


def _absolute(url: str, value: str | None) -> str:
    if not value or not value.strip():
        return ""
    resolved = urljoin(url, value.strip()) if url else value.strip()
    return resolved if resolved.startswith(("http://", "https://")) else ""


def _language(tree: etree._Element, text: str) -> str:
    declared = tree.get("lang") or tree.get("xml:lang") or ""
    if not declared:
        for el in tree.iter("meta"):
            key = (el.get("http-equiv") or el.get("property") or el.get("name") or "").lower()
            if key in ("content-language", "og:locale", "language"):
                declared = (el.get("content") or "").split(",")[0]
                break
    declared = declared.strip().replace("_", "-")
    if re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", declared):
        primary, _, rest = declared.partition("-")
        return primary.lower() + (f"-{rest.upper() if len(rest) == 2 else rest}" if rest else "")
    sample = text[:2000]
    if _KANA.search(sample):
        return "ja"
    if _HANGUL.search(sample):
        return "ko"
    if len(_CJK.findall(sample)) > len(sample) / 5:
        return "zh"
    return ""


def _iso(value: str) -> str | None:
    m = _ISO_DATE.match(value or "")
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else None


def _explicit_dates(tree: etree._Element) -> list[str]:
    """Publication dates the page states in its metadata (meta tags, JSON-LD, itemprop, <time>)."""
    found: list[str | None] = []
    for el in tree.iter("meta"):
        key = (el.get("property") or el.get("name") or el.get("itemprop") or "").strip().lower()
        if key in _DATE_KEYS:
            found.append(_iso(el.get("content") or ""))
    for el in tree.iter("script"):
        if (el.get("type") or "").lower() == "application/ld+json" and el.text:
            found.extend(_iso(m.group(1)) for m in _JSON_DATE.finditer(el.text))
    # the article's own <time datetime>, not one in a sidebar or the footer
    for el in tree.xpath(
        '//*[@itemprop="datePublished"] | //time[@pubdate] | (//article//time[@datetime])[1]'
    ):
        found.append(_iso(el.get("datetime") or el.get("content") or el.text_content()))
    return [date for date in dict.fromkeys(found) if date]


def _published(
    tree: etree._Element, extracted: str | None, text: str, url: str
) -> tuple[str | None, bool]:
    """The publication date and whether it is a guess.

    A date the page states for the article (meta, JSON-LD, itemprop, the article's <time>) is no
    guess. trafilatura's own guess counts only when the article's text or its address states that
    very day: it otherwise picks site-wide dates (a copyright footer's year, the year a site was
    founded), and no date beats a wrong one.
    """
    explicit = _explicit_dates(tree)
    extracted = _iso(extracted) if extracted else None
    if extracted and extracted in explicit:
        return extracted, False
    if explicit:
        return explicit[0], False
    if extracted and (_day_in_address(extracted, url) or _day_in_text(extracted, text)):
        return extracted, True
    return None, False


_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def _day_in_address(iso: str, url: str) -> bool:
    year, month, day = iso.split("-")
    path = urlsplit(url).path
    return (
        any(f"{year}{sep}{month}{sep}{day}" in path for sep in ("/", "-", "_", ""))
        or f"/{year}/{month}/" in path
    )


def _day_in_text(iso: str, text: str) -> bool:
    """The day written out in the text, in one of the usual ways (ISO, 年月日, English)."""
    year, month, day = iso.split("-")
    m, d = int(month), int(day)
    name = _MONTHS[m - 1]
    spellings = [
        f"{year}-{month}-{day}", f"{year}/{month}/{day}", f"{year}.{month}.{day}",
        f"{year}/{m}/{d}", f"{year}年{m}月{d}日", f"{year}年{month}月{day}日",
        f"{name} {d}, {year}", f"{name[:3]} {d}, {year}", f"{d} {name} {year}", f"{d} {name[:3]} {year}",
    ]  # fmt: skip
    return any(spelling in text for spelling in spellings)
