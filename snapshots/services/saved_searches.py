"""Saved searches: a person names a search (the search language, with its filters) to come back to.

Plain functions with keyword arguments, called by the library page and the API alike. A refused
value raises SavedSearchError with the sentence a person reads.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from snapshots.choices import Sort
from snapshots.models import SavedSearch
from snapshots.normalize import clean_text
from snapshots.search_language import parse

MAX_NAME = 100
MAX_QUERY = 500
# Enough for any real use; a bound so that one account cannot grow the sidebar without limit.
MAX_PER_USER = 200


class SavedSearchError(ValueError):
    """A saved search that cannot be kept; `message` is the sentence shown to the user."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field


def _cleaned(name: str, q: str, sort: str) -> tuple[str, str, str]:
    name = " ".join(clean_text(name or "").split())
    q = " ".join(clean_text(q or "").split())
    if not name:
        raise SavedSearchError(_("Give the search a name."), "name")
    if len(name) > MAX_NAME:
        raise SavedSearchError(
            _("A name has at most %(max)d characters.") % {"max": MAX_NAME}, "name"
        )
    if len(q) > MAX_QUERY:
        raise SavedSearchError(
            _("A search has at most %(max)d characters.") % {"max": MAX_QUERY}, "q"
        )
    query = parse(q)
    if query.problems:
        raise SavedSearchError(query.problems[0], "q")
    if not query:
        raise SavedSearchError(_("There is nothing to search for: type a search first."), "q")
    if sort not in Sort.values:
        raise SavedSearchError(
            _("sort must be one of: %(sorts)s.") % {"sorts": ", ".join(Sort.values)}, "sort"
        )
    return name, q, sort


def _save(saved: SavedSearch) -> SavedSearch:
    try:
        with transaction.atomic():
            saved.save()
    except IntegrityError as error:
        raise SavedSearchError(
            _("You already have a saved search named “%(name)s”.") % {"name": saved.name}, "name"
        ) from error
    return saved


def saved_search_create(*, owner, name: str, q: str, sort: str = Sort.NEWEST) -> SavedSearch:
    name, q, sort = _cleaned(name, q, sort)
    if SavedSearch.objects.filter(owner=owner).count() >= MAX_PER_USER:
        raise SavedSearchError(
            _("You have %(max)d saved searches, the most kb keeps: delete one first.")
            % {"max": MAX_PER_USER}
        )
    return _save(SavedSearch(owner=owner, name=name, q=q, sort=sort))


def saved_search_update(
    *, saved: SavedSearch, name: str | None = None, q: str | None = None, sort: str | None = None
) -> SavedSearch:
    saved.name, saved.q, saved.sort = _cleaned(
        saved.name if name is None else name,
        saved.q if q is None else q,
        saved.sort if sort is None else sort,
    )
    return _save(saved)


def saved_search_delete(*, saved: SavedSearch) -> None:
    saved.delete()
