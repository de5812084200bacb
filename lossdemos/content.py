"""The explanations: Markdown files in ``lossdemos/content/<concept>.<lang>.md``, rendered to safe HTML.

Formulas become MathML on the server (``kb.markdown``). A file missing for the reader's language falls
back to English, then to nothing — a page never fails for want of prose. Rendered HTML is cached per
file and refreshed when the file's mtime changes, so editing an explanation needs no restart.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.html import strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from kb.markdown import render_markdown_cached

CONTENT_DIR = Path(__file__).resolve().parent / "content"
FALLBACK_LANGUAGE = "en"

_EMPTY = SafeString("")
_cache: dict[Path, tuple[int, str]] = {}
_cache_lock = threading.Lock()

_LEADING_H1 = re.compile(r"^\s*<h1[^>]*>(?P<title>.*?)</h1>\s*", re.DOTALL)
_H2 = re.compile(r'<h2 id="(?P<id>[^"]+)"[^>]*>(?P<title>.*?)</h2>', re.DOTALL)


@dataclass(frozen=True)
class Section:
    """One ``## Title {#id}`` part of an explanation."""

    id: str
    title: SafeString
    body: SafeString


@dataclass(frozen=True)
class Explanation:
    """A rendered content file: its ``# heading`` (if any), the prose, and the prose by ``##`` section."""

    title: SafeString = _EMPTY
    html: SafeString = _EMPTY
    intro: SafeString = _EMPTY
    sections: dict[str, Section] = field(default_factory=dict)
    language: str = ""

    @property
    def plain_title(self) -> str:
        return strip_tags(self.title)

    def __bool__(self) -> bool:
        return bool(self.html or self.title)


def _language_candidates(language: str | None) -> list[str]:
    language = (language or get_language() or FALLBACK_LANGUAGE).lower()
    candidates = [language]
    if "-" in language:  # zh-hans-cn → zh-hans → zh
        parts = language.split("-")
        candidates += ["-".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]
    if FALLBACK_LANGUAGE not in candidates:
        candidates.append(FALLBACK_LANGUAGE)
    return candidates


def _render_file(path: Path) -> str | None:
    """The file's HTML, re-rendered only when its mtime changes; None when it does not exist."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    with _cache_lock:
        cached = _cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    rendered = render_markdown_cached(text, math=True)
    with _cache_lock:
        _cache[path] = (mtime, rendered)
    return rendered


def explanation(concept: str, language: str | None = None) -> Explanation:
    """The explanation of ``concept`` in the reader's language (or English, or an empty one)."""
    if not re.fullmatch(r"[a-z0-9-]+", concept):
        return Explanation()
    for candidate in _language_candidates(language):
        rendered = _render_file(CONTENT_DIR / f"{concept}.{candidate}.md")
        if rendered is not None:
            return _split(rendered, candidate)
    return Explanation()


def _split(rendered: str, language: str) -> Explanation:
    title = ""
    heading = _LEADING_H1.match(rendered)
    if heading:
        title = heading["title"]
        rendered = rendered[heading.end() :]
    headings = list(_H2.finditer(rendered))
    intro = rendered[: headings[0].start()] if headings else rendered
    sections = {}
    for i, match in enumerate(headings):
        end = headings[i + 1].start() if i + 1 < len(headings) else len(rendered)
        sections[match["id"]] = Section(
            id=match["id"],
            title=mark_safe(match["title"]),  # noqa: S308 — sanitized by nh3 in render_markdown
            body=mark_safe(rendered[match.end() : end]),  # noqa: S308 — same
        )
    return Explanation(
        title=mark_safe(title),  # noqa: S308 — sanitized by nh3 in render_markdown
        html=mark_safe(rendered),  # noqa: S308 — same
        intro=mark_safe(intro),  # noqa: S308 — same
        sections=sections,
        language=language,
    )
