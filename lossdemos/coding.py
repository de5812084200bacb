"""Coding lengths: the Huffman code of a distribution, and its lengths drawn as colah draws them.

colah's *Visual Information Theory* draws a code as one column per symbol, as wide as the symbol's
probability and as tall as its codeword: the area is the average length. The ideal code, −log₂ pᵢ
bits a symbol, has area H(p); using q's ideal code for symbols drawn from p has area H(p, q); the
difference is KL(p‖q). Huffman's code is the best code with whole bits, so its average length L
lies in [H(p), H(p) + 1).

Pure Python, no Django, no torch: ``explore.js`` repeats :func:`huffman_code` step for step (the
same tie-breaking), so the page's lengths stay the server's while the reader drags a bar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CodingChart",
    "average_length",
    "coding_chart",
    "huffman_code",
    "huffman_lengths",
    "ideal_lengths",
]


def huffman_code(probabilities: Sequence[float]) -> list[str]:
    """The Huffman codeword of each symbol (``"0"``/``"1"`` strings), in the symbols' order.

    Repeatedly merge the two least likely subtrees; ties go to the subtree made first (symbols in
    their order, then merged subtrees in the order they were made), so the code is reproducible
    and ``explore.js`` builds the same one. The lighter subtree gets ``0``. One symbol alone gets
    the one-bit code ``"0"``: a code must write something.
    """
    count = len(probabilities)
    if count == 0:
        return []
    if count == 1:
        return ["0"]
    # (weight, order, symbols in the subtree)
    pool = [(float(p), i, [i]) for i, p in enumerate(probabilities)]
    codes = [""] * count
    made = count
    while len(pool) > 1:
        pool.sort(key=lambda node: (node[0], node[1]))
        (w0, _o0, left), (w1, _o1, right), *rest = pool
        for symbol in left:
            codes[symbol] = "0" + codes[symbol]
        for symbol in right:
            codes[symbol] = "1" + codes[symbol]
        pool = [*rest, (w0 + w1, made, left + right)]
        made += 1
    return codes


def huffman_lengths(probabilities: Sequence[float]) -> list[int]:
    """The length in bits of each symbol's Huffman codeword."""
    return [len(code) for code in huffman_code(probabilities)]


def ideal_lengths(probabilities: Sequence[float]) -> list[float]:
    """−log₂ pᵢ: the length an ideal code gives each symbol (∞ for an impossible one)."""
    return [-math.log2(p) if p > 0 else math.inf for p in probabilities]


def average_length(weights: Sequence[float], lengths: Sequence[float]) -> float:
    """Σ wᵢ·ℓᵢ, with 0·∞ = 0 (a symbol that never occurs costs nothing, however long its code)."""
    return sum(w * length for w, length in zip(weights, lengths, strict=True) if w > 0)


# --- the drawing -----------------------------------------------------------------------------

WIDTH = 560
HEIGHT = 220
LEFT = 34
RIGHT = WIDTH - 8
TOP = 12
BOTTOM = HEIGHT - 40
# An ideal length past this many bits is drawn cut off (p = 0 would need an infinitely tall column).
MAX_BITS_DRAWN = 10


@dataclass(frozen=True)
class Column:
    symbol: int
    x: float
    width: float
    code: str
    code_y: float
    code_height: float
    ideal: float
    ideal_y: float
    ideal_height: float
    clipped: bool
    reference_y: float | None
    label_x: float

    @property
    def end(self) -> float:
        return self.x + self.width


@dataclass(frozen=True)
class CodingChart:
    """Geometry of one colah chart: columns as wide as pᵢ, bars as tall as a code's lengths."""

    columns: list[Column]
    ticks: list[tuple[float, int]]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = RIGHT
    top: int = TOP
    bottom: int = BOTTOM


def coding_chart(
    weights: Sequence[float],
    codes: Sequence[str],
    ideal: Sequence[float],
    reference: Sequence[float] | None = None,
) -> CodingChart:
    """Columns as wide as ``weights`` (p), filled to each codeword's length, outlined at ``ideal``.

    ``reference`` (−log₂ pᵢ when ``ideal`` is −log₂ qᵢ) is drawn as a dashed line in each column,
    so the area between the two outlines — H(p, q) − H(p) = KL(p‖q) — is visible.
    """
    finite = [v for v in [*ideal, *(reference or [])] if math.isfinite(v)]
    top_bits = max([len(c) for c in codes] + [min(v, MAX_BITS_DRAWN) for v in finite] + [1])
    top_bits = math.ceil(top_bits)
    scale = (BOTTOM - TOP) / top_bits
    span = RIGHT - LEFT
    x = float(LEFT)
    columns = []
    for i, (w, code, length) in enumerate(zip(weights, codes, ideal, strict=True)):
        width = span * w
        clipped = not math.isfinite(length) or length > top_bits
        drawn = min(length, top_bits)
        ref_y = None
        if reference is not None:
            ref_y = BOTTOM - min(reference[i], top_bits) * scale
        columns.append(
            Column(
                symbol=i,
                x=x,
                width=width,
                code=code,
                code_y=BOTTOM - len(code) * scale,
                code_height=len(code) * scale,
                ideal=length,
                ideal_y=BOTTOM - drawn * scale,
                ideal_height=drawn * scale,
                clipped=clipped,
                reference_y=ref_y,
                label_x=x + width / 2,
            )
        )
        x += width
    ticks = [(BOTTOM - bits * scale, bits) for bits in range(0, top_bits + 1)]
    return CodingChart(columns=columns, ticks=ticks)
