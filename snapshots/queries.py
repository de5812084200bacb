"""Read-side functions: every page that lists links filters them the same way."""

import hashlib
import re
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, time

from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connection, connections, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
    Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Lower, NullIf
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import escape
from django.utils.safestring import mark_safe
from taggit.models import Tag, TaggedItem

from snapshots import revision, search
from snapshots import search_language as language
from snapshots.access import visible_links
from snapshots.choices import CaptureState, Sort, Visibility
from snapshots.models import Link, Snapshot, link_content_type
from snapshots.normalize import LinkError, filter_tags, host_key

# A page's tags in one query, kept as a list on each link (``Link.tag_names`` reads it). Not a plain
# prefetch_related("tags"): for that Django asks taggit's manager for a queryset per link, and
# taggit builds each with a content-type filter (~1.5 ms a link, 80 ms of a 50-link page measured).
TAG_LIST = Prefetch("tags", to_attr="prefetched_tags")


TAG_COUNTS_CACHE_SECONDS = 24 * 3600
TAG_COUNTS_CACHE_MAX_TAGS = 2000


def _live_tag_counts(links: QuerySet[Link]) -> QuerySet[Tag]:
    return (
        Tag.objects.filter(link__in=links)
        .annotate(count=Count("link", distinct=True))
        .order_by("-count", "name")
    )


def tag_counts(links: QuerySet[Link]) -> QuerySet[Tag]:
    """Tags used by these links, each with how many of them carry it (`.count`), most used first.

    Counting joins every tagged item of every link (a second or so for 100,000 links on SQLite),
    so the counts are cached under the library's revision token (snapshots.revision), which
    changes with any change to links, tags or visibility: a cached answer is never stale. The
    result is still a QuerySet (slice it, .values_list() it) over at most a few thousand tags.
    """
    live = _live_tag_counts(links)
    token = revision.current(links.db)
    if token is None:
        return live
    try:
        sql, params = live.values_list("id", "count").query.sql_with_params()
    except EmptyResultSet:
        return live
    key = (
        "kb:tag-counts:"
        + hashlib.sha256(f"{token}|{links.db}|{sql}|{params!r}".encode()).hexdigest()
    )
    counts = cache.get(key)
    if counts is None:
        counts = list(live.values_list("id", "count"))
        cache.set(key, counts, TAG_COUNTS_CACHE_SECONDS)
    if len(counts) > TAG_COUNTS_CACHE_MAX_TAGS:
        return live
    if not counts:
        return Tag.objects.none().annotate(count=Value(0, output_field=IntegerField()))
    return (
        Tag.objects.filter(pk__in=[tag_id for tag_id, _count in counts])
        .annotate(
            count=Case(
                *(When(pk=tag_id, then=Value(count)) for tag_id, count in counts),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
        .order_by("-count", "name")
    )


# Tag fields' autocomplete lists at most this many of the user's tags.
TAG_SUGGESTIONS = 1000


def own_tag_names(user) -> list[str]:
    """The user's own tags, for the autocomplete <datalist> of tag fields.

    An EXISTS per tag rather than counting the user's tagged links: it stops at the first link
    found, so it stays a few milliseconds with 100,000 links where a count takes a second.
    """
    if not user.is_authenticated:
        return []
    used = Link.objects.filter(owner=user, tags=OuterRef("pk"))
    return list(
        Tag.objects.filter(Exists(used))
        .order_by("name")
        .values_list("name", flat=True)[:TAG_SUGGESTIONS]
    )


def home_sections(user) -> dict:
    """What the home page shows: recent links and the tags in use."""
    links = visible_links(user)
    return {
        "recent_links": list(links.select_related("latest_snapshot")[:10]),
        "tag_cloud": list(tag_counts(links)[:40]),
    }


def _lowered_spellings(names: Iterable[str]) -> list[str]:
    # SQL's LOWER() is Unicode-aware on PostgreSQL but ASCII-only on SQLite: ask for both spellings.
    spellings = set()
    for name in names:
        spellings.add(name.lower())
        spellings.add("".join(char.lower() if char.isascii() else char for char in name))
    return sorted(spellings)


def tags_named(names: Iterable[str]) -> QuerySet[Tag]:
    """The Tag rows named any of these, case-insensitively.

    One `LOWER(name) IN (...)`, not an OR of comparisons per name: SQLite refuses a query whose
    expression tree is deeper than 1,000 ("Expression tree is too large").
    """
    return Tag.objects.alias(lowered=Lower("name")).filter(lowered__in=_lowered_spellings(names))


def links_for_concept(user, tags: list[str]) -> QuerySet[Link]:
    """The links this user may see that carry any of these tags (a loss-demo page's reading list).

    Tag names match case-insensitively, so "KL-Divergence" and "kl-divergence" are one concept.
    """
    if not tags:
        return Link.objects.none()
    ids = visible_links(user).filter(tags__in=tags_named(tags)).values("id")
    return Link.objects.filter(id__in=ids).select_related("latest_snapshot")


# ---------------------------------------------------------------------------------------------
# The library page, the API list and the bench all read links through library_links().


@dataclass
class LibraryFilters:
    """What a person narrowed the library to. Unknown values are ignored by `cleaned()`."""

    q: str = ""
    tags: list[str] = field(default_factory=list)
    domain: str = ""
    state: str = ""  # a CaptureState
    visibility: str = ""  # a Visibility
    unread: bool | None = None
    sort: str = Sort.NEWEST.value
    page: int = 1
    # A sentence for the page when a filter was refused (too many tags, an over-long name).
    notice: str = ""

    @classmethod
    def from_query(cls, params) -> "LibraryFilters":
        """From a request's GET QueryDict (or a plain dict); bad values fall back to defaults.

        `tag` may repeat (`?tag=a&tag=b`); `tags` may hold a comma list as typed in a form.
        """
        getlist = getattr(params, "getlist", None)
        raw_tags = getlist("tag") if getlist else params.get("tag", [])
        if isinstance(raw_tags, str):
            raw_tags = [raw_tags]
        raw_tags = list(raw_tags) + ([params.get("tags")] if params.get("tags") else [])
        notice = ""
        try:
            tags = filter_tags(raw_tags)
        except LinkError as error:
            tags, notice = [], error.message
        unread = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
        try:
            page = max(1, int(params.get("page") or 1))
        except (TypeError, ValueError):
            page = 1
        return cls(
            q=str(params.get("q") or "")[:500],
            tags=tags,
            domain=str(params.get("domain") or "")[:255],
            state=str(params.get("state") or ""),
            visibility=str(params.get("visibility") or ""),
            unread=unread.get(str(params.get("unread") or "").lower()),
            sort=str(params.get("sort") or Sort.NEWEST),
            page=page,
            notice=notice,
        ).cleaned()

    def cleaned(self) -> "LibraryFilters":
        return replace(
            self,
            q=self.q.strip(),
            domain=self.domain.strip().lower().removeprefix("www."),
            state=self.state if self.state in CaptureState.values else "",
            visibility=self.visibility if self.visibility in Visibility.values else "",
            sort=self.sort if self.sort in Sort.values else Sort.NEWEST.value,
            page=max(1, self.page),
        )

    @property
    def search(self) -> language.SearchQuery:
        """`q` read as the search language (snapshots.search_language)."""
        return language.parse(self.q)

    @property
    def is_filtered(self) -> bool:
        return bool(
            self.q
            or self.tags
            or self.domain
            or self.state
            or self.visibility
            or self.unread is not None
        )


def _tagged_link_ids(names: list[str]) -> QuerySet:
    """Ids of links carrying any of these tags (names compared case-insensitively)."""
    return TaggedItem.objects.filter(
        content_type=link_content_type(), tag__in=tags_named(names)
    ).values("object_id")


def _tag_ids_by_name(names: list[str]) -> dict[str, set[int]]:
    """The Tag ids of each name (casefolded; usually one id, an empty set for an unknown name)."""
    ids_by_name: dict[str, set[int]] = {name.casefold(): set() for name in names}
    for tag_id, tag_name in tags_named(names).values_list("id", "name"):
        ids_by_name.setdefault(tag_name.casefold(), set()).add(tag_id)
    return ids_by_name


# ---------------------------------------------------------------------------------------------
# The search language (snapshots.search_language) compiled to a filter, the same on both databases.

# The `is:` states and what each asks of a link.
IS_FILTERS = {
    "unread": Q(unread=True),
    "read": Q(unread=False),
    "private": Q(private=True),
    "public": Q(private=False),
    "failed": Q(latest_snapshot__status=Snapshot.Status.FAILED),
}
# `is:` states that read fields saved without a new revision token (see _count_token): a
# capture's outcome. `unread` is tracked (revision.COUNTED_LINK_FIELDS).
UNTRACKED_STATES = {"failed"}


def _start_of(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _on_site(host: str) -> Q:
    """Links saved from this host or one of its subdomains: one range of the host_key index.

    "org.example." starts the key of example.org and of every *.example.org, and no other
    ("org.example2.", "org.myexample." differ before the end). PostgreSQL serves the prefix
    from the pattern-ops index; SQLite's LIKE ignores case, which no index serves, so it is
    asked the same prefix as a range: from the key to the key with its last "." made "/".
    """
    prefix = host_key(host)
    if not prefix:
        return Q(pk__in=[])
    if connection.vendor == "sqlite":
        return Q(host_key__gte=prefix, host_key__lt=prefix[:-1] + "/")
    return Q(host_key__startswith=prefix)


def _clause_filter(clause, pk: str, within) -> Q:
    if isinstance(clause, language.Text):
        sql, params = search.text_ids_sql([search.lookup_for(clause)], within)
        return Q(**{f"{pk}__in": RawSQL(sql, params)})  # noqa: S611 — values are parameters
    if isinstance(clause, language.Tag):
        tagged = _tagged_link_ids([clause.name])
        if within is not None:
            # Only the window's links: an index lookup each, not every link of a common tag.
            tagged = tagged.filter(object_id__in=within)
        return Q(**{f"{pk}__in": tagged})
    if isinstance(clause, language.Site):
        return _on_site(clause.host)
    if isinstance(clause, language.Is):
        return IS_FILTERS[clause.state]
    if isinstance(clause, language.Saved):
        start = _start_of(clause.day)
        return Q(created__gte=start) if clause.bound == "after" else Q(created__lt=start)
    if isinstance(clause, language.Not):
        return ~_clause_filter(clause.operand, pk, within)
    if isinstance(clause, language.AnyOf):
        either = Q()
        for operand in clause.operands:
            either |= _clause_filter(operand, pk, within)
        return either
    raise TypeError(f"not a search clause: {clause!r}")


def search_filter(query: language.SearchQuery, *, pk: str = "pk", within=None) -> Q:
    """The Q a link must satisfy to match the query.

    The plain text terms (not negated, not in an OR) are looked up together: one MATCH per
    index, which intersects them inside the index. `within`: only these link ids are asked about
    (the library page's walk, snapshots.search.text_ids_sql).
    """
    lookups = [search.lookup_for(c) for c in query.clauses if isinstance(c, language.Text)]
    # Negated terms checked inside the same lookup (search.excluded_in_match), not on their own.
    negated = {
        clause: search.lookup_for(clause.operand)
        for clause in query.clauses
        if isinstance(clause, language.Not) and isinstance(clause.operand, language.Text)
    }
    excluded = search.excluded_in_match(lookups, list(negated.values()))
    condition = Q()
    if lookups:
        sql, params = search.text_ids_sql(lookups, within, excluded)
        condition &= Q(**{f"{pk}__in": RawSQL(sql, params)})  # noqa: S611 — values are parameters
    for clause in query.clauses:
        if isinstance(clause, language.Text) or negated.get(clause) in excluded:
            continue
        condition &= _clause_filter(clause, pk, within)
    return condition


def filter_links(
    links: QuerySet[Link], q: str | language.SearchQuery, *, few: bool = False
) -> QuerySet[Link]:
    """Narrow a Link queryset to those matching the query (unchanged for an empty query).

    On SQLite a link's id is compared through a unary plus, which no index serves: left to
    itself SQLite's planner starts from a common word's id list and sorts all of it, where with
    this it walks links newest first and stops after the page (search.pk_in says more).
    ``few``: the caller knows the matches are few, so starting from their ids and sorting them
    is the cheap way (a walk newest first would read the whole library to find 54 links: 11 ms).
    """
    query = language.parse(q) if isinstance(q, str) else q
    if not query:
        return links
    # A site: has its own index, which SQLite, knowing no row counts, would pass over for a
    # common word's id list (site:site77.org entropy: 21 ms through 46,000 ids, 0.3 by host).
    on_site = any(isinstance(clause, language.Site) for clause in query.clauses)
    if connections[links.db].vendor == "sqlite" and (not few or on_site):
        unindexed = Func(F("pk"), template="+%(expressions)s", output_field=BigIntegerField())
        return links.alias(unindexed_pk=unindexed).filter(search_filter(query, pk="unindexed_pk"))
    return links.filter(search_filter(query))


def matching_ids_among(query: language.SearchQuery, ids: list[int]) -> set[int]:
    """Which of these links match the query (each link's search document read by its key)."""
    if not ids:
        return set()
    matching = Link.objects.filter(pk__in=ids).filter(search_filter(query, within=ids))
    return set(matching.values_list("pk", flat=True))


def _reads_untracked_fields(query: language.SearchQuery) -> bool:
    def untracked(clause) -> bool:
        if isinstance(clause, language.Not):
            return untracked(clause.operand)
        if isinstance(clause, language.AnyOf):
            return any(untracked(operand) for operand in clause.operands)
        return isinstance(clause, language.Is) and clause.state in UNTRACKED_STATES

    return any(untracked(clause) for clause in query.clauses)


def _with_all_tags(links: QuerySet[Link], names: list[str]) -> QuerySet[Link]:
    """Links carrying every one of these tags (names compared case-insensitively).

    The tag ids are looked up first (one small query), so the filter is a single pass over the
    tagged items of those tags, grouped by link: far cheaper on a large library than one
    subquery per tag with a name comparison inside.
    """
    ids_by_name = _tag_ids_by_name(names)
    if any(not ids for ids in ids_by_name.values()):
        return links.none()
    if all(len(ids) == 1 for ids in ids_by_name.values()):
        tag_ids = [next(iter(ids)) for ids in ids_by_name.values()]
        carrying_all = TaggedItem.objects.filter(
            content_type=link_content_type(), tag_id__in=tag_ids
        ).values("object_id")
        if len(tag_ids) > 1:
            carrying_all = (
                carrying_all.annotate(found=Count("tag_id"))
                .filter(found=len(tag_ids))
                .values("object_id")
            )
        return search.pk_in(links, carrying_all)
    # Two Tag rows differing only by case (made before TAGGIT_CASE_INSENSITIVE): one filter each.
    for name in names:
        links = links.filter(pk__in=_tagged_link_ids([name]))
    return links


def _sort_key(sort: str) -> list:
    if sort in (Sort.TITLE, Sort.TITLE_DESCENDING):
        # What the list shows as the title: the user's, else the captured one, else the URL.
        shown = Lower(
            Coalesce(NullIf("title", Value("")), NullIf("latest_snapshot__title", Value("")), "url")
        )
        return [shown.desc() if sort == Sort.TITLE_DESCENDING else shown.asc(), "-id"]
    if sort == Sort.OLDEST:
        return ["created", "id"]
    if sort == Sort.DOMAIN:
        return ["domain", "-created", "-id"]
    return ["-created", "-id"]


def with_row_details(links: QuerySet[Link]) -> QuerySet[Link]:
    """What a library row shows besides the link: its latest snapshot, owner and tags.

    Prefetched, not joined: a join would be made for every matching link before the sort and
    LIMIT (46,000 lookups for a common search term on 100,000 links), a prefetch only for the 50
    shown. A page costs the same number of queries for 5 links or 50.
    """
    return links.prefetch_related(
        Prefetch("latest_snapshot", queryset=Snapshot.objects.defer("text", "reader_html")),
        "owner",
        TAG_LIST,
    )


def library_links(user, filters: LibraryFilters | None = None) -> QuerySet[Link]:
    """The links this user may see, narrowed by the filters (all combine), searched and sorted.

    Several tags: a link must carry ALL of them. Rows come with `with_row_details`.
    """
    return with_row_details(_matching(user, (filters or LibraryFilters()).cleaned()))


def _matching(user, filters: LibraryFilters, *, few: bool = False) -> QuerySet[Link]:
    links = _plainly_filtered(user, filters)
    if filters.tags:
        links = _with_all_tags(links, filters.tags)
    if filters.q:
        links = filter_links(links, filters.search, few=few)
    return links.order_by(*_sort_key(filters.sort))


def _plainly_filtered(user, filters: LibraryFilters) -> QuerySet[Link]:
    """Visibility and the filters on the link's own columns (cheap, indexed): no tags, no search."""
    links = visible_links(user)
    if filters.domain:
        links = links.filter(domain=filters.domain)
    if filters.state == CaptureState.NONE:
        links = links.filter(latest_snapshot__isnull=True)
    elif filters.state:
        links = links.filter(latest_snapshot__status=filters.state)
    if filters.visibility:
        links = links.filter(private=filters.visibility == Visibility.PRIVATE)
    if filters.unread is not None:
        links = links.filter(unread=filters.unread)
    return links


# The newest-first walk of `library_page` first checks this many times the rows it must find,
# then a window sized by the share of matches seen so far; past WALK_MAX_LINKS the filter is left
# to the indexes (matches that rare are what the indexes answer fast).
WALK_FIRST_WINDOW = 4
WALK_MAX_LINKS = 5000
# Room for chance: matches are not spread evenly through the library.
WALK_MARGIN = 1.5


def library_page(
    user,
    filters: LibraryFilters,
    start: int,
    stop: int,
    *,
    details=with_row_details,
    matches: int | None = None,
) -> list[Link]:
    """``library_links(user, filters)[start:stop]``, with `details`, found the cheap way.

    Tags and search narrow the library by indexes that answer "which links match?" for the whole
    library: for a tag on half of 100,000 links, or a word in half the texts, that is 50,000
    matches to collect and sort to show 50 (PostgreSQL: 140 ms for two common tags; 1 s to
    recheck a common word's documents). So the links are first walked in the page's order with
    only the cheap filters, and the tag and search conditions checked for a window of them by
    primary key: when the window holds ``stop`` matches, they are exactly the first ``stop`` of the
    full answer. The first window is 4x the rows needed, the next sized by the share of matches
    in it; when that share says over WALK_MAX_LINKS links would be needed, the indexes answer
    (they are fast precisely when matches are rare).

    ``matches``: how many links match, when the caller knows (a remembered count). Matches too
    rare for a walk then go straight to the indexes: a walk that finds 2 of 200 links costs as
    much as the index answer it gives way to (4 ms of a 5 ms phrase search on SQLite).
    """
    filters = filters.cleaned()
    share = _share_of_matches(user, filters, matches) if filters.tags or filters.q else None
    walk = share is None or share * WALK_MAX_LINKS >= stop * WALK_MARGIN
    if (filters.tags or filters.q) and walk:
        ids = _walk_for_page(user, filters, start, stop, share)
        if ids is not None:
            found = {link.pk: link for link in details(Link.objects.filter(pk__in=ids))}
            return [found[pk] for pk in ids if pk in found]
    return list(details(_matching(user, filters, few=not walk))[start:stop])


# Search clauses on the link's own columns that the walk takes with its cheap filters. Not
# site:, which has its own index: walked with, a rare host (7 of 100,000 links) would count as
# "every link walked matches", and SQLite would sort a common one's 17,000 links for a window.
_COLUMN_CLAUSES = (language.Is, language.Saved)


def _walk_base(user, filters: LibraryFilters) -> tuple[QuerySet[Link], language.SearchQuery]:
    """The links the walk goes through, and what is left of the search to check in windows.

    A date or state typed in the search is a filter on the link's own columns: walked
    with, not checked per window, so 'after:2026-10-20 entropy' walks only the links saved
    since that day, which are the newest (and the share of matches below is theirs).
    """
    query = filters.search
    columns = [clause for clause in query.clauses if isinstance(clause, _COLUMN_CLAUSES)]
    links = _plainly_filtered(user, filters)
    for clause in columns:
        links = links.filter(_clause_filter(clause, "pk", None))
    rest = tuple(clause for clause in query.clauses if clause not in columns)
    return links, language.SearchQuery(clauses=rest)


def _share_of_matches(user, filters: LibraryFilters, matches: int | None) -> float | None:
    """Which share of the links walked match, when the caller knows how many match.

    The links walked are counted once per change of the library (library_count remembers it
    under the revision token; a capture's outcome does not renew it, which only skews a guess:
    the walk itself is exact).
    """
    if matches is None:
        return None
    walked, _rest = _walk_base(user, filters)
    total = library_count(walked, replace(filters, q="", tags=[]))
    return matches / total if total else 0.0


def _walk_for_page(
    user, filters: LibraryFilters, start: int, stop: int, share: float | None = None
) -> list[int] | None:
    if stop <= start:
        return []
    tag_groups = list(_tag_ids_by_name(filters.tags).values()) if filters.tags else []
    if any(not ids for ids in tag_groups):
        return []
    walked, query = _walk_base(user, filters)
    ordered = walked.order_by(*_sort_key(filters.sort))
    group_of = {tag_id: n for n, group in enumerate(tag_groups) for tag_id in group}
    size = stop * WALK_FIRST_WINDOW
    if share:
        # as many links as this share of matches needs, rather than growing window by window
        size = max(size, int(stop / share * WALK_MARGIN))
    size = min(size, WALK_MAX_LINKS)
    while True:
        window = list(ordered.values_list("pk", flat=True)[:size])
        matching = set(window)
        if tag_groups:
            # one query for every tag: which of them each link of the window carries
            carried: dict[int, set[int]] = {}
            for object_id, tag_id in TaggedItem.objects.filter(
                content_type=link_content_type(), tag_id__in=list(group_of), object_id__in=window
            ).values_list("object_id", "tag_id"):
                carried.setdefault(object_id, set()).add(group_of[tag_id])
            matching = {pk for pk, groups in carried.items() if len(groups) == len(tag_groups)}
        if query and matching:
            matching &= matching_ids_among(query, sorted(matching))
        ids = [pk for pk in window if pk in matching]
        if len(ids) >= stop or len(window) < size:
            return ids[start:stop]
        # the window this share of matches needs, with room for chance
        needed = int(stop * len(window) / max(len(ids), 1) * WALK_MARGIN)
        if size >= WALK_MAX_LINKS or needed > WALK_MAX_LINKS:
            return None
        size = min(WALK_MAX_LINKS, max(size * 2, needed))


LIBRARY_COUNT_CACHE_SECONDS = 24 * 3600


def _count_token(links: QuerySet[Link], filters: LibraryFilters) -> str | None:
    """The revision token(s) a count under these filters depends on, or None if not tracked.

    The library token covers links, tags, visibility, read state and addresses; the search
    index has its own token. A capture state depends on snapshots saved without a new token, so
    its counts are always computed afresh.
    """
    if filters.state:
        return None
    if filters.q and _reads_untracked_fields(filters.search):
        return None
    token = revision.current(links.db)
    if token is None or not filters.q:
        return token
    # The search index lives on the default database (snapshots.search).
    index_token = (
        revision.current(links.db, revision.SEARCH_INDEX) if links.db == "default" else None
    )
    return None if index_token is None else f"{token}|{index_token}"


def _count_key(links: QuerySet[Link], filters: LibraryFilters) -> str | None:
    """The cache key of this count; None when it is not cached, "" when nothing can match."""
    token = _count_token(links, filters)
    if token is None:
        return None
    try:
        sql, params = links.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:
        return ""
    return (
        "kb:library-count:"
        + hashlib.sha256(f"{token}|{links.db}|{sql}|{params!r}".encode()).hexdigest()
    )


def library_count(links: QuerySet[Link], filters: LibraryFilters) -> int:
    """How many links `library_links(user, filters)` holds: exact, cached when that is safe.

    Counting a tag carried by half of 100,000 links costs 40-60 ms on SQLite and more on
    PostgreSQL (over a second for a common search term there), paid again on every page of the
    listing. For filters the revision tokens cover (tags, visibility, search) the count is
    cached under them, so it is never stale: any change to links, tags, visibility or the search
    index writes a new token and the next count is computed.
    """
    filters = filters.cleaned()
    key = _count_key(links, filters)
    if key == "":
        return 0
    if key is None:
        return links.count()
    count = cache.get(key)
    if count is None:
        count = links.count()
        cache.set(key, count, LIBRARY_COUNT_CACHE_SECONDS)
    return count


@contextmanager
def _index_scans(filters: LibraryFilters, using: str = "default"):
    """PostgreSQL, for a search: the planner reads the search table through its indexes.

    A word or CJK gram in 40% of the documents makes its planner scan the whole table, checking
    every row's tsvector or gram array, which are TOASTed: each is fetched and decompressed (5.5 s
    for '损失 -熵' on 100,000 links, 0.9 s through the GIN indexes, whose answers need no recheck).
    Its cost model does not count the decompression, so it is told here, for these queries only.
    """
    if not filters.q or connections[using].vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        # Not in a `finally`: after a database error the transaction accepts no statement (the
        # reset would hide the error), and rolling back to the savepoint undoes the SET anyway.
        yield
        cursor.execute("SET LOCAL enable_seqscan TO DEFAULT")


def _invisible_links_sql(user, using: str) -> tuple[str, list]:
    """SQL for the links this user may not see: others' private ones (anonymous: all private).

    Read from the (private, owner) index as two ranges around the user's own id (a UNION: SQLite
    would not split an OR into them), so a library of one person's links reads none. `IN (true)`:
    Django writes `private = true` as the bare column, which SQLite looks up in no index.
    """
    private = Link.objects.using(using).filter(private__in=[True]).order_by().values("pk")
    if user is None or not user.is_authenticated:
        return private.query.sql_with_params()
    below, below_params = private.filter(owner_id__lt=user.pk).query.sql_with_params()
    above, above_params = private.filter(owner_id__gt=user.pk).query.sql_with_params()
    return f"{below} UNION ALL {above}", [*below_params, *above_params]


def _count_by_index(user, filters: LibraryFilters, using: str) -> int | None:
    """How many links match a search of words alone, counted in the search index; else None.

    The library's own count of a common word reads every link it names (SQLite: 46,000 lookups or
    a scan of 100,000 wide rows, 30 ms; linkding's whole count is 40). The index counts its rows
    itself (1.5 ms): all the matches, less those among the links this user may not see
    (_invisible_links_sql, from an index). Only for text terms, with no other filter: wanted
    ones, "a OR b" of them, and negated ones where excluded_in_match takes them into the same
    lookup; anything else is counted by the library's own query.
    """
    if filters.tags or filters.domain or filters.state or filters.visibility:
        return None
    if filters.unread is not None or using != "default":
        return None
    clauses = filters.search.clauses
    lookups = [search.lookup_for(c) for c in clauses if isinstance(c, language.Text)]
    negated = [
        search.lookup_for(c.operand)
        for c in clauses
        if isinstance(c, language.Not) and isinstance(c.operand, language.Text)
    ]
    excluded = search.excluded_in_match(lookups, negated)
    groups = [
        clause.operands
        for clause in clauses
        if isinstance(clause, language.AnyOf)
        and all(isinstance(operand, language.Text) for operand in clause.operands)
    ]
    if len(lookups) + len(excluded) + len(groups) != len(clauses) or not (lookups or groups):
        return None
    # The ids of each set of matches: the words all wanted, and each "a OR b" as a union.
    sets = [search.text_ids_sql(lookups, None, excluded)] if lookups else []
    for operands in groups:
        either = [search.text_ids_sql([search.lookup_for(operand)]) for operand in operands]
        sets.append((" UNION ".join(sql for sql, _ in either), [p for _, ps in either for p in ps]))
    sql = " INTERSECT ".join(
        f"SELECT * FROM ({one}) AS set{n}"  # noqa: S608
        for n, (one, _) in enumerate(sets)
    )
    params = [p for _, ps in sets for p in ps]
    hidden_sql, hidden_params = _invisible_links_sql(user, using)
    key = "rowid" if connections[using].vendor == "sqlite" else "link_id"
    with connections[using].cursor() as cursor:
        # one pass over the matches: all of them, and those hidden from this user
        cursor.execute(
            f"SELECT COUNT(*), COUNT(CASE WHEN matches.{key} IN ({hidden_sql}) THEN 1 END) "  # noqa: S608
            f"FROM ({sql}) AS matches",
            [*hidden_params, *params],
        )
        every, hidden = cursor.fetchone()
    return every - hidden


def library_count_and_page(
    user, filters: LibraryFilters, start: int, stop: int, *, details=with_row_details
) -> tuple[int, list[Link]]:
    """How many links match, and `library_page(user, filters, start, stop)`, with one search.

    A search whose count is not cached yet must find every match to count them; the page is then
    taken from that same evaluation (a window count over the sorted matches), rather than the
    search being run twice, once for the count and once for the page. A cached count leaves the
    page to `library_page`, which reads only as many links as the page needs.
    """
    filters = filters.cleaned()
    links = library_links(user, filters)
    with _index_scans(filters, links.db):
        key = _count_key(links, filters) if filters.q else None
        cached = cache.get(key) if key else None
        if filters.q and key != "" and cached is None:
            cached = _count_by_index(user, filters, links.db)
            if key and cached is not None:
                cache.set(key, cached, LIBRARY_COUNT_CACHE_SECONDS)
        if filters.q and key != "" and cached is None and stop > start:
            rows = list(
                _matching(user, filters)
                .annotate(total=Window(Count("pk")))
                .values_list("pk", "total")[start:stop]
            )
            if rows:
                count = rows[0][1]
                if key:
                    cache.set(key, count, LIBRARY_COUNT_CACHE_SECONDS)
                ids = [pk for pk, _total in rows]
                found = {link.pk: link for link in details(Link.objects.filter(pk__in=ids))}
                return count, [found[pk] for pk in ids if pk in found]
        count = cached if cached is not None else library_count(links, filters)
        if start >= count:
            return count, []
        return count, library_page(user, filters, start, stop, details=details, matches=count)


class LibraryPaginator(Paginator):
    """The library's pages: the total and the page from `library_count_and_page()`."""

    def __init__(self, user, filters: LibraryFilters, per_page: int) -> None:
        self.user = user
        self.filters = filters.cleaned()
        self._pages: dict[int, list[Link]] = {}
        super().__init__(library_links(user, self.filters), per_page)

    @cached_property
    def count(self) -> int:
        # The page asked for comes with the count (one search for both); another is read later.
        number = max(1, self.filters.page)
        bottom = (number - 1) * self.per_page
        count, links = library_count_and_page(
            self.user, self.filters, bottom, bottom + self.per_page
        )
        if links:
            self._pages[number] = links
        return count

    def page(self, number):
        number = self.validate_number(number)
        if number in self._pages:
            return self._get_page(self._pages[number], number, self)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        with _index_scans(self.filters):
            links = library_page(self.user, self.filters, bottom, top, matches=self.count)
        return self._get_page(links, number, self)


EXCERPT_BEFORE = 60
EXCERPT_LENGTH = 220
# Where an excerpt is taken from, in this order: the first field containing a term wins.
EXCERPT_FIELDS = ("notes", "description", "text", "snapshot_description", "title", "snapshot_title")


def _excerpt(value: str, pattern: re.Pattern[str]) -> str | None:
    value = " ".join(value.split())
    match = pattern.search(value)
    if match is None:
        return None
    start = max(0, match.start() - EXCERPT_BEFORE)
    if start > 0:
        # Start at a word boundary when the text has spaces nearby (Chinese text may not).
        space = value.find(" ", start, match.start())
        if space != -1:
            start = space + 1
    end = min(len(value), start + EXCERPT_LENGTH)
    if end < len(value):
        space = value.rfind(" ", max(match.end(), end - 30), end)
        if space != -1:
            end = space
    window = value[start:end]
    pieces = []
    position = 0
    for found in pattern.finditer(window):
        pieces.append(escape(window[position : found.start()]))
        pieces.append(f"<mark>{escape(found.group(0))}</mark>")
        position = found.end()
    pieces.append(escape(window[position:]))
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(value) else ""
    return prefix + "".join(pieces) + suffix


def link_excerpts(links, q: str) -> dict[int, str]:
    """For each link, a short HTML-safe excerpt around the first match with <mark>…</mark>.

    Everything but the marks is escaped. Taken from notes, description, the snapshot's main text,
    then titles (EXCERPT_FIELDS); one query for the whole page. Links without a match are absent.
    """
    terms = search.search_terms(q)
    pattern = search.term_pattern(terms)
    ids = [link.pk if isinstance(link, Link) else int(link) for link in links]
    if pattern is None or not ids:
        return {}
    excerpts: dict[int, str] = {}
    for link_id, document in search.link_documents(ids).items():
        fields = search.split_document(document)
        for name in EXCERPT_FIELDS:
            found = _excerpt(fields.get(name, ""), pattern)
            if found is not None:
                excerpts[link_id] = mark_safe(found)  # noqa: S308 — every other piece is escaped
                break
    return excerpts


def oldest_waiting_capture():
    """When the longest-waiting capture (queued or running) was asked for, or None if none waits.

    The health check asks on every probe: one step down the index snapshot_status_requested for
    each status, however long the backlog.
    """
    oldest = [
        Snapshot.objects.filter(status=status)
        .order_by("requested")
        .values_list("requested", flat=True)
        .first()
        for status in (Snapshot.Status.PENDING, Snapshot.Status.RUNNING)
    ]
    return min((when for when in oldest if when is not None), default=None)
