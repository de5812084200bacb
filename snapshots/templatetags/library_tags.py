"""Template helpers of the library pages: filter URLs that keep the other filters, avatars, badges."""

from __future__ import annotations

from django import template
from django.http import QueryDict

register = template.Library()

# Parameters that restart paging when a filter changes.
_PAGE = "page"


@register.simple_tag
def query_without(query: QueryDict, key: str, value: str | None = None) -> str:
    """The query string without `key` (or without one of its values): the link of a removable chip."""
    params = query.copy()
    params.pop(_PAGE, None)
    if value is None:
        params.pop(key, None)
    else:
        params.setlist(key, [item for item in params.getlist(key) if item != str(value)])
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag
def query_adding(query: QueryDict, key: str, value: str) -> str:
    """The query string with one more value for `key` (a tag added to the filter), page reset."""
    params = query.copy()
    params.pop(_PAGE, None)
    values = params.getlist(key)
    if str(value) not in values:
        params.setlist(key, [*values, str(value)])
    return f"?{params.urlencode()}"


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
