"""Markdown → HTML with formulas as MathML, sanitized last (ARCHITECTURE §4).

Used for users' notes (`render_markdown(text)`) and for the loss demos' explanations
(`render_markdown(text, math=True)`). The order matters: convert, then sanitize with nh3 — never the
other way round, so nothing a converter produces can slip past the sanitizer.
"""

import html
import re
from functools import lru_cache

import markdown
import nh3
from latex2mathml.converter import convert as latex_to_mathml

MATHML_TAGS = {
    "math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msup",
    "msub", "msubsup", "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr",
    "mtd", "mstyle", "mpadded", "mphantom", "menclose", "merror",
}  # fmt: skip
MATHML_ATTRIBUTES = {
    "display", "xmlns", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace",
    "accent", "accentunder", "movablelimits", "largeop", "symmetric", "minsize", "maxsize",
    "linethickness", "width", "height", "depth", "columnalign", "rowalign", "columnspacing",
    "rowspacing", "notation", "scriptlevel", "displaystyle", "encoding", "form", "columnlines",
    "rowlines", "frame",
}  # fmt: skip
TEXT_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre",
    "code", "em", "strong", "del", "sup", "sub", "a", "img", "table", "thead", "tbody", "tr", "th",
    "td", "dl", "dt", "dd", "abbr", "kbd", "span", "div", "details", "summary", "figure",
    "figcaption",
}  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "abbr": {"title"},
    "th": {"align", "colspan", "rowspan"},
    "td": {"align", "colspan", "rowspan"},
    "code": {"class"},
    "span": {"class"},
    "div": {"class"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
    **dict.fromkeys(MATHML_TAGS, MATHML_ATTRIBUTES),
}

_MATH = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*\\(?P<open>[\(\[])(?P<tex>.*?)\\[\)\]]\s*</(?P=tag)>',
    re.DOTALL,
)


def _math_to_mathml(match: re.Match) -> str:
    tex = html.unescape(match["tex"]).strip()
    display = "block" if match["open"] == "[" else "inline"
    try:
        return latex_to_mathml(tex, display=display)
    except Exception:  # noqa: BLE001 — a formula the converter can't read is shown as its source
        return f'<code class="tex">{html.escape(tex)}</code>'


# CJK ideographs, kana, hangul and full-width punctuation: between two of them a source line break is
# not a space (Chinese text has none), but browsers would render one.
_CJK = r"\u2e80-\u9fff\u3000-\u303f\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_CJK_LINE_BREAK = re.compile(rf"(?<=[{_CJK}])[ \t]*\n[ \t]*(?=[{_CJK}])")
_PRE_BLOCK = re.compile(r"(<pre[\s>].*?</pre>)", re.DOTALL)


def _join_cjk_lines(html_text: str) -> str:
    parts = _PRE_BLOCK.split(html_text)  # odd items are <pre> blocks, kept as they are
    return "".join(
        part if index % 2 else _CJK_LINE_BREAK.sub("", part) for index, part in enumerate(parts)
    )


def render_markdown(text: str, *, math: bool = False) -> str:
    """Markdown to safe HTML. With math=True, `$…$` and `$$…$$` become MathML."""
    extensions = ["extra", "sane_lists", "smarty"]
    config = {}
    if math:
        extensions.append("pymdownx.arithmatex")
        config["pymdownx.arithmatex"] = {"generic": True}
    if math:
        extensions.append("toc")
        config["toc"] = {"permalink": False}
    converted = markdown.markdown(text, extensions=extensions, extension_configs=config)
    if math:
        converted = _MATH.sub(_math_to_mathml, converted)
    converted = _join_cjk_lines(converted)
    return nh3.clean(
        converted,
        tags=TEXT_TAGS | (MATHML_TAGS if math else set()),
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


@lru_cache(maxsize=256)
def render_markdown_cached(text: str, *, math: bool = False) -> str:
    """The same, remembered: for texts that come from files shipped with the site."""
    return render_markdown(text, math=math)
