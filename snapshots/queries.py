"""Read-side functions: every page that lists links filters them the same way."""

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, time

from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connection, connections
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
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Lower, NullIf
from django.utils import timezone
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


def tag_ids_by_name(names: list[str]) -> dict[str, set[int]]:
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


def clause_filter(clause, pk: str, within) -> Q:
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
        return ~clause_filter(clause.operand, pk, within)
    if isinstance(clause, language.AnyOf):
        either = Q()
        for operand in clause.operands:
            either |= clause_filter(operand, pk, within)
        return either
    raise TypeError(f"not a search clause: {clause!r}")


def search_filter(
    query: language.SearchQuery, *, pk: str = "pk", within=None, few: bool = False
) -> Q:
    """The Q a link must satisfy to match the query.

    The plain text terms (not negated, not in an OR) are looked up together: one MATCH per
    index, which intersects them inside the index. `within`: only these link ids are asked about
    (the library page's walk, snapshots.search.text_ids_sql). `few`: the caller expects few
    matches, so their ids are looked up first and handed over as a list (search.few_ids).
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
        ids = search.few_ids(sql, params) if few else None
        if ids is None:
            ids = RawSQL(sql, params)  # noqa: S611 — values are parameters
        condition &= Q(**{f"{pk}__in": ids})
    for clause in query.clauses:
        if isinstance(clause, language.Text) or negated.get(clause) in excluded:
            continue
        condition &= clause_filter(clause, pk, within)
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
    PostgreSQL is then given the ids as a list: its planner, guessing from each term alone
    ("损失" in 36% of documents, "熵" in 60%), expects 5,000 links of '损失 -熵' where 72 match,
    and walks the links newest first reading each one's grams (360 ms, against 2 from the list).
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
    return links.filter(search_filter(query, few=few))


def matching_ids_among(query: language.SearchQuery, ids: list[int]) -> set[int]:
    """Which of these links match the query (each link's search document read by its key)."""
    if not ids:
        return set()
    matching = Link.objects.filter(pk__in=ids).filter(search_filter(query, within=ids))
    return set(matching.values_list("pk", flat=True))


def reads_untracked_fields(query: language.SearchQuery) -> bool:
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
    ids_by_name = tag_ids_by_name(names)
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


def sort_key(sort: str) -> list:
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
    return with_row_details(matching_links(user, (filters or LibraryFilters()).cleaned()))


def matching_links(user, filters: LibraryFilters, *, few: bool = False) -> QuerySet[Link]:
    links = plainly_filtered(user, filters)
    if filters.tags:
        links = _with_all_tags(links, filters.tags)
    if filters.q:
        links = filter_links(links, filters.search, few=few)
    return links.order_by(*sort_key(filters.sort))


def plainly_filtered(user, filters: LibraryFilters) -> QuerySet[Link]:
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
