"""What changed between two snapshots' main text, in units a person reads: sentences.

Lines alone are too coarse for page text: an extracted paragraph is often one long line, and Chinese text
may have no line breaks (or spaces) at all. So the text is cut into sentences — after 。！？ anywhere,
after . ! ? when whitespace or the end follows — and difflib compares the sentence sequences. A sentence
that was edited rather than replaced (similar enough to its counterpart) is shown once, with the words
(or, in Chinese, the characters) that changed marked inside it. Long unchanged stretches are folded,
leaving a little context around each change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Literal

__all__ = ["DiffBlock", "Segment", "TextDiff", "diff_texts", "split_sentences"]

# A CJK sentence ends at 。！？ (no space needed); a Latin one at . ! ? followed by whitespace or the end.
# Closing quotes and brackets stay with the sentence they close.
_SENTENCE_END = re.compile(
    r"""[。！？]+[”’」』）)\]"']*"""
    r"""|[.!?]+[”’」』）)\]"']*(?=\s|$)"""
)
# Inline tokens: a run of Latin letters/digits is one word; every other character (a CJK character,
# punctuation, a space) stands alone, so an edit inside a Chinese sentence is marked character by
# character.
_TOKEN = re.compile(r"[0-9A-Za-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff_'’-]+|\s+|.", re.DOTALL)
# Pairs of sentences more alike than this are shown as one edited sentence.
_EDITED_SENTENCE_RATIO = 0.5
# Inline marking of very long "sentences" (a list flattened into one line) costs more than it helps.
_INLINE_LIMIT = 4000

Kind = Literal["same", "added", "removed", "changed", "skipped"]


@dataclass(frozen=True)
class Segment:
    """A piece of an edited sentence: kept ("same"), new ("added") or gone ("removed")."""

    kind: Literal["same", "added", "removed"]
    text: str


@dataclass(frozen=True)
class DiffBlock:
    """One row of the diff: a sentence (or, for "skipped", a count of unchanged sentences left out)."""

    kind: Kind
    text: str = ""
    segments: tuple[Segment, ...] = ()
    skipped: int = 0


@dataclass
class TextDiff:
    blocks: list[DiffBlock] = field(default_factory=list)
    added: int = 0
    removed: int = 0
    changed: int = 0

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed)


def split_sentences(text: str) -> list[str]:
    """The text's sentences, in order, without surrounding whitespace; blank lines dropped."""
    sentences: list[str] = []
    for line in text.splitlines():
        start = 0
        for match in _SENTENCE_END.finditer(line):
            piece = line[start : match.end()].strip()
            if piece:
                sentences.append(piece)
            start = match.end()
        rest = line[start:].strip()
        if rest:
            sentences.append(rest)
    return sentences


def _inline_segments(old: str, new: str) -> tuple[Segment, ...]:
    old_tokens, new_tokens = _TOKEN.findall(old), _TOKEN.findall(new)
    matcher = SequenceMatcher(None, old_tokens, new_tokens, autojunk=False)
    segments: list[Segment] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            segments.append(Segment("same", "".join(old_tokens[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            segments.append(Segment("removed", "".join(old_tokens[i1:i2])))
        if tag in ("insert", "replace"):
            segments.append(Segment("added", "".join(new_tokens[j1:j2])))
    return tuple(segments)


def _similar(old: str, new: str) -> bool:
    if len(old) + len(new) > _INLINE_LIMIT:
        return False
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    return (
        matcher.real_quick_ratio() >= _EDITED_SENTENCE_RATIO
        and matcher.quick_ratio() >= _EDITED_SENTENCE_RATIO
        and matcher.ratio() >= _EDITED_SENTENCE_RATIO
    )


def _replacement(old: list[str], new: list[str]) -> list[DiffBlock]:
    """Blocks for a run of old sentences replaced by new ones: edited pairs inline, the rest whole."""
    blocks: list[DiffBlock] = []
    pending_added: list[str] = []
    for index in range(max(len(old), len(new))):
        before = old[index] if index < len(old) else None
        after = new[index] if index < len(new) else None
        if before is not None and after is not None and _similar(before, after):
            blocks.extend(DiffBlock("added", text) for text in pending_added)
            pending_added.clear()
            blocks.append(DiffBlock("changed", segments=_inline_segments(before, after)))
            continue
        if before is not None:
            blocks.append(DiffBlock("removed", before))
        if after is not None:
            pending_added.append(after)
    blocks.extend(DiffBlock("added", text) for text in pending_added)
    return blocks


def diff_texts(old: str, new: str, *, context: int = 2) -> TextDiff:
    """Compare two texts sentence by sentence; `context` unchanged sentences are kept around each change."""
    old_sentences, new_sentences = split_sentences(old), split_sentences(new)
    matcher = SequenceMatcher(None, old_sentences, new_sentences, autojunk=False)
    result = TextDiff()
    opcodes = matcher.get_opcodes()
    for position, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            same = old_sentences[i1:i2]
            keep_before = context if position > 0 else 0
            keep_after = context if position < len(opcodes) - 1 else 0
            if len(same) <= keep_before + keep_after + 1:
                result.blocks.extend(DiffBlock("same", text) for text in same)
                continue
            result.blocks.extend(DiffBlock("same", text) for text in same[:keep_before])
            hidden = len(same) - keep_before - keep_after
            result.blocks.append(DiffBlock("skipped", skipped=hidden))
            if keep_after:
                result.blocks.extend(DiffBlock("same", text) for text in same[-keep_after:])
            continue
        blocks = _replacement(old_sentences[i1:i2], new_sentences[j1:j2])
        for block in blocks:
            if block.kind == "added":
                result.added += 1
            elif block.kind == "removed":
                result.removed += 1
            elif block.kind == "changed":
                result.changed += 1
        result.blocks.extend(blocks)
    return result
