"""The library's pages: how many links a listing holds, and the links of one page, found cheaply.

snapshots.queries says which links a listing holds (filters, search, sort); this module finds a
page of them and their count without reading every match: a walk in the page's order checking a
window of links at a time, counts remembered under the library's revision tokens, and a search's
count taken from the search index. The answers are exactly the full query's.
"""

import hashlib
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace

from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connections, transaction
from django.db.models import (
    Count,
    Q,
    QuerySet,
    Window,
)
from django.utils.functional import cached_property
from taggit.models import TaggedItem

from snapshots import revision, search
from snapshots import search_language as language
from snapshots.models import Link, link_content_type
from snapshots.queries import (
    UNTRACKED_STATES,
    LibraryFilters,
    clause_filter,
    library_links,
    matching_ids_among,
    matching_links,
    plainly_filtered,
    reads_untracked_fields,
    sort_key,
    tag_ids_by_name,
    with_row_details,
)

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
    return list(details(matching_links(user, filters, few=not walk))[start:stop])


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
    links = plainly_filtered(user, filters)
    for clause in columns:
        links = links.filter(clause_filter(clause, "pk", None))
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
    walked, rest = _walk_base(user, filters)
    base = replace(filters, q="", tags=[])
    columns = tuple(clause for clause in filters.search.clauses if clause not in rest.clauses)
    total = library_count(
        walked, base, counter=lambda: _count_by_index(user, base, walked.db, columns)
    )
    return matches / total if total else 0.0


def _walk_for_page(
    user, filters: LibraryFilters, start: int, stop: int, share: float | None = None
) -> list[int] | None:
    if stop <= start:
        return []
    tag_groups = list(tag_ids_by_name(filters.tags).values()) if filters.tags else []
    if any(not ids for ids in tag_groups):
        return []
    walked, query = _walk_base(user, filters)
    ordered = walked.order_by(*sort_key(filters.sort))
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
    if filters.q and reads_untracked_fields(filters.search):
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


def library_count(
    links: QuerySet[Link], filters: LibraryFilters, counter: Callable[[], int | None] | None = None
) -> int:
    """How many links `library_links(user, filters)` holds: exact, cached when that is safe.

    Counting a tag carried by half of 100,000 links costs 40-60 ms on SQLite and more on
    PostgreSQL (over a second for a common search term there), paid again on every page of the
    listing. For filters the revision tokens cover (tags, visibility, search) the count is
    cached under them, so it is never stale: any change to links, tags, visibility or the search
    index writes a new token and the next count is computed. ``counter``: counts them from the
    indexes (None when it cannot), before the links are counted one by one.
    """
    filters = filters.cleaned()
    key = _count_key(links, filters)
    if key == "":
        return 0

    def count_them() -> int:
        found = counter() if counter is not None else None
        return links.count() if found is None else found

    if key is None:
        return count_them()
    count = cache.get(key)
    if count is None:
        count = count_them()
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


def _count_by_index(
    user, filters: LibraryFilters, using: str, clauses: tuple | None = None
) -> int | None:
    """How many links match a search, counted in the indexes; else None.

    The library's own count of a common word or tag reads every link it names (SQLite: 46,000
    lookups or a scan of 100,000 wide rows, 30-50 ms; linkding's whole count is 40-120). The
    search index and the tag index (tag, content type, link) count their rows themselves (1.5
    ms): all the matches, less those among the links this user may not see
    (_invisible_links_sql, from an index). For text terms and tags (typed as #tag or picked in
    the sidebar): wanted ones, "a OR b" of them, negated tags, and negated terms where
    excluded_in_match takes them into the same lookup; with dates and read or private states
    (typed, or the sidebar's) as id ranges of the link's own indexes (_column_ids_sql: 'before:
    2026-01-01 entropy' read 35,000 link rows on PostgreSQL to count). Anything else (a domain, a
    capture state) is counted by the library's own query. ``clauses``: these rather than the
    search's (the walk's own links: _share_of_matches).
    """
    if filters.domain or filters.state or using != "default":
        return None
    clauses = filters.search.clauses if clauses is None else clauses
    lookups = [search.lookup_for(c) for c in clauses if isinstance(c, language.Text)]
    negated = [
        search.lookup_for(c.operand)
        for c in clauses
        if isinstance(c, language.Not) and isinstance(c.operand, language.Text)
    ]
    excluded = search.excluded_in_match(lookups, negated)
    tag_ids = tag_ids_by_name([*filters.tags, *_tag_names(clauses)])
    wanted: list[tuple[str, list]] = []
    unwanted: list[tuple[str, list]] = []
    if lookups:
        wanted.append(_as_ids(*search.text_ids_sql(lookups, None, excluded), search.key_column()))
    wanted += [_operand_ids_sql(language.Tag(name), tag_ids) for name in filters.tags]
    if filters.unread is not None:
        wanted.append(_column_ids_sql(language.Is("unread" if filters.unread else "read"), using))
    if filters.visibility:
        visibility = language.Is("private")
        (wanted if filters.visibility == "private" else unwanted).append(
            _column_ids_sql(visibility, using)
        )
    for clause in clauses:
        if isinstance(clause, language.Text):
            continue
        if isinstance(clause, language.Tag):
            wanted.append(_operand_ids_sql(clause, tag_ids))
        elif _by_column(clause):
            positive = clause.operand if isinstance(clause, language.Not) else clause
            without = isinstance(clause, language.Not)
            if isinstance(positive, language.Is) and positive.state == "public":
                positive, without = language.Is("private"), not without  # public: not private
            (unwanted if without else wanted).append(_column_ids_sql(positive, using))
        elif isinstance(clause, language.Not) and isinstance(clause.operand, language.Tag):
            unwanted.append(_operand_ids_sql(clause.operand, tag_ids))
        elif isinstance(clause, language.Not) and isinstance(clause.operand, language.Text):
            if search.lookup_for(clause.operand) not in excluded:
                return None
        elif isinstance(clause, language.AnyOf) and all(
            isinstance(operand, language.Text | language.Tag) for operand in clause.operands
        ):
            either = [_operand_ids_sql(operand, tag_ids) for operand in clause.operands]
            wanted.append(
                (" UNION ".join(sql for sql, _ in either), [p for _, ps in either for p in ps])
            )
        else:
            return None
    if not wanted and not unwanted:
        return None
    if not wanted:  # every link, less the unwanted ones ("-#python")
        wanted.append(Link.objects.using(using).order_by().values("id").query.sql_with_params())
    # the links matching each wanted set, less those in any unwanted one (one pass, in SQL)
    sql = " INTERSECT ".join(
        f"SELECT id FROM ({one}) AS set{n}"  # noqa: S608
        for n, (one, _) in enumerate(wanted)
    )
    sql += "".join(
        f" EXCEPT SELECT id FROM ({one}) AS unset{n}"  # noqa: S608
        for n, (one, _) in enumerate(unwanted)
    )
    params = [p for _, ps in [*wanted, *unwanted] for p in ps]
    hidden_sql, hidden_params = _invisible_links_sql(user, using)
    with connections[using].cursor() as cursor:
        # one pass over the matches: all of them, and those hidden from this user
        cursor.execute(
            f"SELECT COUNT(*), COUNT(CASE WHEN matches.id IN ({hidden_sql}) THEN 1 END) "  # noqa: S608
            f"FROM ({sql}) AS matches",
            [*hidden_params, *params],
        )
        every, hidden = cursor.fetchone()
    return every - hidden


def _by_column(clause) -> bool:
    """A date or a state of the link's own (not a capture's): a range of one of its indexes."""
    operand = clause.operand if isinstance(clause, language.Not) else clause
    return isinstance(operand, language.Saved) or (
        isinstance(operand, language.Is) and operand.state not in UNTRACKED_STATES
    )


def _column_ids_sql(clause, using: str) -> tuple[str, list]:
    """The ids of the links in this state or saved in this range, from an index holding both:
    (created, id), (unread, id), (private, owner). `IN (true)`: Django writes `unread = true`
    as the bare column, which SQLite looks up in no index. Public is "not private" (the caller's)."""
    links = Link.objects.using(using).order_by()
    if isinstance(clause, language.Saved):
        condition = clause_filter(clause, "pk", None)
    elif clause.state in ("unread", "read"):
        condition = Q(unread__in=[clause.state == "unread"])
    else:
        condition = Q(private__in=[True])
    return links.filter(condition).values("id").query.sql_with_params()


def _tag_names(clauses) -> list[str]:
    names = []
    for clause in clauses:
        operand = clause.operand if isinstance(clause, language.Not) else clause
        for item in operand.operands if isinstance(operand, language.AnyOf) else (operand,):
            if isinstance(item, language.Tag):
                names.append(item.name)
    return names


def _as_ids(sql: str, params: list, column: str) -> tuple[str, list]:
    return f"SELECT {column} AS id FROM ({sql}) AS found", params  # noqa: S608


def _tag_ids_sql(tag_ids: set[int]) -> tuple[str, list]:
    """The links carrying any of these tags, each once, from the (tag, content type, link) index."""
    if not tag_ids:
        return "SELECT object_id AS id FROM taggit_taggeditem WHERE 1 = 0", []
    ids = sorted(tag_ids)
    one = "SELECT object_id AS id FROM taggit_taggeditem WHERE tag_id = %s AND content_type_id = %s"
    # a link may carry "AI" and "ai": the UNION counts it once
    return " UNION ".join([one] * len(ids)), [
        p for tag_id in ids for p in (tag_id, link_content_type().pk)
    ]


def _operand_ids_sql(operand, tag_ids: dict[str, set[int]]) -> tuple[str, list]:
    """The ids of the links matching one text term or tag, as `SELECT … AS id`."""
    if isinstance(operand, language.Tag):
        return _tag_ids_sql(tag_ids[operand.name.casefold()])
    return _as_ids(*search.text_ids_sql([search.lookup_for(operand)]), search.key_column())


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
        indexed = bool(filters.q or filters.tags)
        key = _count_key(links, filters) if indexed else None
        cached = cache.get(key) if key else None
        if indexed and key != "" and cached is None:
            cached = _count_by_index(user, filters, links.db)
            if key and cached is not None:
                cache.set(key, cached, LIBRARY_COUNT_CACHE_SECONDS)
        if filters.q and key != "" and cached is None and stop > start:
            rows = list(
                matching_links(user, filters)
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
