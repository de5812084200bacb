"""Template helpers of the library pages: filter URLs that keep the other filters, avatars, badges."""

from __future__ import annotations

from urllib.parse import quote

from django import template
from django.http import QueryDict

register = template.Library()

# Parameters that restart paging when a filter changes.
_PAGE = "page"


def _encode(pairs) -> str:
    # QueryDict.urlencode()'s spelling (quote, not quote_plus), without its deepcopy of the query.
    return "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in pairs)


def _pairs(query: QueryDict):
    """The query's (key, value) pairs in order, the page number left out (filters restart paging)."""
    for key, values in query.lists():
        if key != _PAGE:
            for value in values:
                yield key, value


@register.simple_tag
def query_without(query: QueryDict, key: str, value: str | None = None) -> str:
    """The query string without `key` (or without one of its values): the link of a removable chip."""
    if value is None:
        kept = [(k, v) for k, v in _pairs(query) if k != key]
    else:
        kept = [(k, v) for k, v in _pairs(query) if not (k == key and v == str(value))]
    return "?" + _encode(kept)


@register.simple_tag
def query_adding(query: QueryDict, key: str, value: str) -> str:
    """The query string with one more value for `key` (a tag added to the filter), page reset.

    Called for every tag of every row of a library page, so it encodes pairs directly: copying
    the QueryDict (a deepcopy) for each was a fifth of the page's rendering time.
    """
    pairs = list(_pairs(query))
    if (key, str(value)) not in pairs:
        # after the key's other values, where QueryDict.setlist would have put it
        last = max((i for i, (k, _) in enumerate(pairs) if k == key), default=len(pairs) - 1)
        pairs.insert(last + 1, (key, str(value)))
    return "?" + _encode(pairs)


@register.filter
def avatar_letter(domain: str) -> str:
    """The first letter or digit of a domain, for the avatar shown where there is no favicon."""
    for character in domain or "":
        if character.isalnum():
            return character.upper()
    return "#"


@register.filter
def avatar_hue(domain: str) -> int:
    """One of eight colour classes, stable for a domain, so its links are recognisable at a glance."""
    return sum(map(ord, domain or "")) % 8
