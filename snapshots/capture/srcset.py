"""``srcset`` and ``sizes``: which candidate image a browser would download.

An archive keeps one image per ``<img>``/``<source>``: the candidate a desktop browser (a
1280 CSS px wide viewport at 1x) would choose, so the archived page looks as it did on a desktop.
When that one cannot be fetched, the next best is tried.
"""

from __future__ import annotations

import re

from snapshots.capture.css import split_top_level
from snapshots.capture.references import WHITESPACE

__all__ = ["media_matches", "parse_srcset", "rank_candidates"]

_REFERENCE_VIEWPORT = 1280  # CSS px; candidates are chosen as a desktop browser at 1x would
_REFERENCE_HEIGHT = 800
_SPACES = re.compile(r"\s+")
_REFERENCE_DENSITY = 1.0
_MEDIA_FEATURE = re.compile(
    r"\(\s*(min|max)-(width|height)\s*:\s*([\d.]+)(px|em|rem)\s*\)", re.IGNORECASE
)
# What the reference screen (1280 x 800, 1x, light, landscape, a mouse) says to other features.
_SCREEN_FEATURES = {
    "(orientation: landscape)": True,
    "(orientation: portrait)": False,
    "(prefers-color-scheme: light)": True,
    "(prefers-color-scheme: dark)": False,
    "(prefers-reduced-motion: no-preference)": True,
    "(prefers-reduced-motion: reduce)": False,
    "(hover: hover)": True,
    "(hover: none)": False,
    "(pointer: fine)": True,
    "(pointer: coarse)": False,
}
_DENSITY_FEATURE = re.compile(
    r"\(\s*(?:(min|max)-resolution\s*:\s*([\d.]+)(dppx|x|dpi)"
    r"|-webkit-(min|max)-device-pixel-ratio\s*:\s*([\d.]+))\s*\)",
    re.IGNORECASE,
)
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


def media_matches(query: str) -> bool | None:
    """Does a media query list hold on the reference screen (1280 x 800 CSS px at 1x)?

    None when it uses a feature this does not know.
    """
    answers = [_media_matches(part) for part in split_top_level(query, ",")]
    if any(answer is True for answer in answers):
        return True
    return None if any(answer is None for answer in answers) else False


def _media_matches(condition: str) -> bool | None:
    condition = _SPACES.sub(" ", condition.strip().lower()).replace(" :", ":")
    negated = condition.startswith("not ")
    condition = condition.removeprefix("not ").removeprefix("only ").strip()
    if condition in ("", "all", "screen"):
        return not negated
    if condition == "print":
        return negated
    parts = [
        p.strip() for p in re.split(r"\band\b", condition) if p.strip() not in ("", "screen", "all")
    ]
    result = True
    for part in parts:
        answer = _feature_matches(part)
        if answer is None:
            return None
        result &= answer
    return result != negated


def _feature_matches(part: str) -> bool | None:
    part = part.replace(": ", ":").replace(":", ": ")
    if part in _SCREEN_FEATURES:
        return _SCREEN_FEATURES[part]
    if m := _MEDIA_FEATURE.fullmatch(part):
        px = float(m.group(3)) * (16 if m.group(4).lower() != "px" else 1)
        screen = _REFERENCE_VIEWPORT if m.group(2).lower() == "width" else _REFERENCE_HEIGHT
        return px <= screen if m.group(1).lower() == "min" else px >= screen
    if m := _DENSITY_FEATURE.fullmatch(part):
        bound = m.group(1) or m.group(4)
        value = float(m.group(2) or m.group(5))
        if (m.group(3) or "").lower() == "dpi":
            value /= 96
        density = _REFERENCE_DENSITY
        return density >= value if bound.lower() == "min" else density <= value
    return None
