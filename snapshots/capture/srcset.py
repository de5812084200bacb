"""``srcset`` and ``sizes``: which candidate image a browser would download.

An archive keeps one image per ``<img>``/``<source>``: the candidate a desktop browser (a
1280 CSS px wide viewport at 1x) would choose, so the archived page looks as it did on a desktop.
When that one cannot be fetched, the next best is tried.
"""

from __future__ import annotations

import re

from snapshots.capture.css import split_top_level
from snapshots.capture.references import WHITESPACE

__all__ = ["parse_srcset", "rank_candidates"]

_REFERENCE_VIEWPORT = 1280  # CSS px; candidates are chosen as a desktop browser at 1x would
_REFERENCE_DENSITY = 1.0
_MEDIA_FEATURE = re.compile(r"\(\s*(min|max)-width\s*:\s*([\d.]+)(px|em|rem)\s*\)", re.IGNORECASE)
_LENGTH = re.compile(r"^([\d.]+)(px|vw|em|rem)$", re.IGNORECASE)


def parse_srcset(value: str) -> list[tuple[str, str]]:
    """HTML's srcset parsing: [(url, descriptors)]."""
    out, i, n = [], 0, len(value)
    while i < n:
        while i < n and (value[i] in WHITESPACE or value[i] == ","):
            i += 1
        if i >= n:
            break
        start = i
        while i < n and value[i] not in WHITESPACE:
            i += 1
        url = value[start:i]
        descriptor = ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            start, depth = i, 0
            while i < n and not (value[i] == "," and depth == 0):
                depth += value[i] == "("
                depth -= value[i] == ")"
                i += 1
            descriptor = value[start:i].strip(WHITESPACE)
        if url:
            out.append((url, descriptor))
    return out


def rank_candidates(candidates: list[tuple[str, str]], sizes: str | None) -> list[tuple[str, str]]:
    """Candidates best first: the one a browser at the reference viewport would pick, then the rest."""
    scored = []
    for url, descriptor in candidates:
        width = density = None
        for d in descriptor.split():
            try:
                if d[-1:] in ("w", "W"):
                    width = float(d[:-1])
                elif d[-1:] in ("x", "X"):
                    density = float(d[:-1])
            except ValueError:
                pass
        scored.append((url, descriptor, width, density))
    if any(width for _, _, width, _ in scored):
        target = _sizes_px(sizes) * _REFERENCE_DENSITY
        values = [(url, d, width or 0.0) for url, d, width, _ in scored]
    else:
        target = _REFERENCE_DENSITY
        values = [(url, d, density or 1.0) for url, d, _, density in scored]
    # enough resolution first (smallest such), then the largest of the rest
    values.sort(key=lambda c: (c[2] < target, c[2] if c[2] >= target else -c[2]))
    return [(url, d) for url, d, _ in values]


def _sizes_px(sizes: str | None) -> float:
    for entry in split_top_level(sizes or "", ","):
        entry = entry.strip()
        if not entry:
            continue
        condition, _, length = entry.rpartition(" ")
        if condition and _media_matches(condition) is not True:
            continue
        m = _LENGTH.match(length.strip())
        if not m:
            continue
        number, unit = float(m.group(1)), m.group(2).lower()
        return {"px": number, "vw": number * _REFERENCE_VIEWPORT / 100}.get(unit, number * 16)
    return float(_REFERENCE_VIEWPORT)


def _media_matches(condition: str) -> bool | None:
    condition = condition.strip().lower()
    if condition in ("", "all", "screen"):
        return True
    parts = [
        p.strip() for p in re.split(r"\band\b", condition) if p.strip() not in ("", "screen", "all")
    ]
    result = True
    for part in parts:
        m = _MEDIA_FEATURE.fullmatch(part)
        if not m:
            return None
        px = float(m.group(2)) * (16 if m.group(3).lower() != "px" else 1)
        wide_enough = px <= _REFERENCE_VIEWPORT
        result &= wide_enough if m.group(1).lower() == "min" else px >= _REFERENCE_VIEWPORT
    return result
