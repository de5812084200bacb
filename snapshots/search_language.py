"""The search language people type into the library's box, the header's box and the API's `q`.

Pure: a string in, a small syntax tree out, no Django models and no SQL (snapshots.search compiles
the tree for either database). What it understands:

    word              the link must contain the word (Latin words whole; Chinese as a substring)
    "exact phrase"    the words next to each other (Chinese: exactly this run of characters)
    -word  -"phrase"  must not contain it
    a OR b            either (binds tighter than the spaces between terms: `a OR b c` is (a or b) and c)
    #tag  -#tag       carries (or does not carry) the tag
    site:host         saved from this host or one of its subdomains
    is:unread|read|private|public|failed
    after:YYYY-MM-DD  saved on or after that day; before:YYYY-MM-DD saved before it

Anything else, `foo:bar` included, is searched as plain text. A value the language cannot read
(`after:yesterday`, `is:starred`) leaves a sentence in `SearchQuery.problems` and the term out;
parse() never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from django.utils.translation import gettext as _

# Fields of the search index are joined by this character; a term must never contain it.
SEPARATOR = "\x1e"
MAX_CLAUSES = 12
MAX_QUERY_LENGTH = 500
IS_STATES = ("unread", "read", "private", "public", "failed")
OPERATORS = ("site", "is", "after", "before")


@dataclass(frozen=True)
class Text:
    """Words or characters the link's text must contain; `phrase` when the person quoted them."""

    value: str
    phrase: bool = False


@dataclass(frozen=True)
class Tag:
    name: str


@dataclass(frozen=True)
class Site:
    host: str


@dataclass(frozen=True)
class Is:
    state: str  # one of IS_STATES


@dataclass(frozen=True)
class Saved:
    """after:/before: a bound on the day the link was saved."""

    bound: str  # "after" (on or after the day) or "before" (strictly before it)
    day: date


@dataclass(frozen=True)
class Not:
    operand: Text | Tag | Site | Is | Saved


@dataclass(frozen=True)
class AnyOf:
    """`a OR b OR …`: at least one of them."""

    operands: tuple


Clause = Text | Tag | Site | Is | Saved | Not | AnyOf


@dataclass(frozen=True)
class SearchQuery:
    """Every clause must hold. `problems`: sentences about terms that were left out."""

    clauses: tuple = ()
    problems: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.clauses)

    def texts(self) -> list[Text]:
        """The positive text terms (for excerpts and highlighting), in the order typed."""
        found: list[Text] = []
        for clause in self.clauses:
            for item in clause.operands if isinstance(clause, AnyOf) else (clause,):
                if isinstance(item, Text):
                    found.append(item)
        return found


# A token: an optional "-", then a quoted phrase (the closing quote may be missing) or a run of
# anything but spaces and quotes. Curly and full-width quotes count as quotes too: Chinese input
# methods type them.
_QUOTES = '"“”＂'
_TOKEN = re.compile(rf"(-?)(?:[{_QUOTES}]([^{_QUOTES}]*)[{_QUOTES}]?|([^\s{_QUOTES}]+))")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Terms made only of these have nothing to search for (a lone "-", "*").
_NOTHING = re.compile(r"[\s\-*+]*")


@dataclass
class _Token:
    negated: bool
    text: str
    quoted: bool

    @property
    def is_or(self) -> bool:
        return not self.negated and not self.quoted and self.text == "OR"


def _tokens(q: str) -> list[_Token]:
    q = q.replace(SEPARATOR, " ")[:MAX_QUERY_LENGTH]
    tokens = []
    for match in _TOKEN.finditer(q):
        minus, quoted, bare = match.groups()
        if quoted is not None:
            tokens.append(_Token(bool(minus), " ".join(quoted.split()), True))
        elif bare is not None:
            tokens.append(_Token(bool(minus), bare, False))
    return tokens


def _operator(token: _Token, problems: list[str]):
    """The clause of one unquoted `key:value` or `#tag` token, None for plain text, False if refused."""
    text = token.text
    if text.startswith("#") and len(text) > 1:
        return Tag(text[1:])
    key, colon, value = text.partition(":")
    key = key.lower()
    if not colon or not value or key not in OPERATORS:
        return None
    if key == "site":
        host = value.lower().strip("/").removeprefix("www.")
        host = host.split("://", 1)[-1].split("/", 1)[0]
        return Site(host) if host else None
    if key == "is":
        state = value.lower()
        if state not in IS_STATES:
            problems.append(
                _("“%(term)s” is not understood: is: takes %(states)s.")
                % {"term": text, "states": ", ".join(IS_STATES)}
            )
            return False
        return Is(state)
    # after: / before:
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        problems.append(
            _("“%(term)s” is not a date: write it as YYYY-MM-DD, e.g. %(key)s:2024-01-31.")
            % {"term": text, "key": key}
        )
        return False
    return Saved(key, day)


def _atom(token: _Token, problems: list[str]):
    """The clause of one token, or None when it says nothing searchable."""
    clause = None if token.quoted else _operator(token, problems)
    if clause is False:
        return None
    if clause is None:
        if _NOTHING.fullmatch(token.text):
            return None
        clause = Text(token.text, phrase=token.quoted)
    return Not(clause) if token.negated else clause


def parse(q: str | None) -> SearchQuery:
    """The query's clauses (all must hold) and sentences about terms left out. Never raises."""
    problems: list[str] = []
    items: list = []  # clauses and "OR" markers, in order
    for token in _tokens(q or ""):
        if token.is_or:
            items.append("OR")
            continue
        clause = _atom(token, problems)
        if clause is not None:
            items.append(clause)
    clauses: list = []
    index = 0
    while index < len(items):
        item = items[index]
        if item == "OR":
            # An OR with nothing on one side is the word "or".
            previous_is_clause = bool(clauses) and items[index - 1] != "OR"
            following = items[index + 1] if index + 1 < len(items) else "OR"
            if previous_is_clause and following != "OR":
                left = clauses.pop()
                operands = left.operands if isinstance(left, AnyOf) else (left,)
                clauses.append(AnyOf((*operands, following)))
                index += 2
                continue
            item = Text("OR")
        clauses.append(item)
        index += 1
    unique: list = []
    for clause in clauses:
        if clause not in unique:
            unique.append(clause)
    return SearchQuery(tuple(unique[:MAX_CLAUSES]), tuple(problems))
