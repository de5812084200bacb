"""Full-text search over the library: one search document per link, kept in its own index table.

The document is the link's title, URL, description, notes, tags and its latest *succeeded*
snapshot's title, description and main text, joined by a separator.

The contract, identical on both databases: the query is split on whitespace and every term must
appear somewhere in the document as a case-insensitive substring. Substring semantics are what make
a Chinese word ("交叉熵") findable inside Chinese text written without spaces.

Documents are stored case-folded (str.casefold) and terms folded the same way, so matching is a
plain LIKE and case-insensitive in every script on both databases. (PostgreSQL's ILIKE lowercases
each document it checks, 3.5x the cost of LIKE: a second of a common word's count.) Excerpts are
cut from the links' own text, not from the index.

- Terms of three or more characters use the trigram index. SQLite: an FTS5 table with the
  trigram tokenizer (SQLite ≥ 3.34), queried with MATCH and a quoted phrase, which is a substring
  match. PostgreSQL: a GIN index with pg_trgm's gin_trgm_ops, queried with LIKE.
- One- or two-character terms have no trigram. Chinese, Japanese and Korean ones (common: "熵",
  "损失") are answered exactly from a second index of each document's CJK characters and pairs of
  adjacent characters (cjk_grams): SQLite keeps them in an FTS5 table with unicode61 tokens,
  PostgreSQL in a text[] column with a GIN index. Other short terms ("AI", "C#") fall back to
  LIKE over the stored documents, which scans them.

The tables are created by migrations 0002 and 0003 (vendor-aware) and are not Django models: the rows are
written only by the functions here, which the link services and the capture task call. Every write
gives the index a new revision token (snapshots.revision.SEARCH_INDEX).
"""

# SQL here is built only from the constant table/column names; every value is a parameter.
# ruff: noqa: S608, S611

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from django.db import connection, connections, transaction
from django.db.models import BigIntegerField, F, Func, QuerySet
from django.db.models.expressions import RawSQL
from taggit.models import TaggedItem

from snapshots import revision
from snapshots.models import Link, Snapshot, link_content_type

TABLE = "snapshots_link_search"
GRAMS_TABLE = "snapshots_link_search_grams"  # SQLite only; PostgreSQL keeps a grams column
# Letters of scripts written without spaces: kana, bopomofo, CJK ideographs, Hangul syllables.
_CJK_RUN = re.compile(
    "[\u3041-\u30fa\u30fc-\u30ff\u3105-\u312f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7a3\uf900-\ufaff\U00020000-\U0003134f]+"
)
# Fields are joined by the ASCII record separator: no query term contains it, so no term matches
# across two fields, and the excerpt code can split the document back into its fields.
SEPARATOR = "\x1e"
FIELDS = (
    "title",
    "url",
    "description",
    "notes",
    "tags",
    "snapshot_title",
    "snapshot_description",
    "text",
)
# The PostgreSQL indexes of TABLE, as migrations 0002 and 0003 make them (reindex_all rebuilds them).
POSTGRES_INDEXES = (
    ("snapshots_link_search_document_trgm", "USING gin (document gin_trgm_ops)"),
    ("snapshots_link_search_grams_gin", "USING gin (grams)"),
)
MAX_TEXT_CHARACTERS = 300_000
MAX_TERMS = 12
TRIGRAM = 3
_BATCH = 500


def _vendor() -> str:
    return connection.vendor


def search_terms(q: str) -> list[str]:
    """The whitespace-separated terms of a query, unique, at most MAX_TERMS."""
    terms: list[str] = []
    for term in (q or "").split():
        term = term.replace(SEPARATOR, "")
        if term and term.casefold() not in {t.casefold() for t in terms}:
            terms.append(term)
    return terms[:MAX_TERMS]


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def is_cjk(text: str) -> bool:
    """True when every character is a Chinese, Japanese or Korean letter (scripts without spaces)."""
    return bool(text) and _CJK_RUN.fullmatch(text) is not None


def cjk_grams(document: str) -> list[str]:
    """The distinct CJK characters of the document and the pairs of adjacent ones.

    A one- or two-character CJK term is a substring of the document exactly when it is one of
    these grams, so an exact token lookup answers it (no positions, no scan).
    """
    grams: set[str] = set()
    for run in _CJK_RUN.findall(document):
        grams.update(run)
        grams.update(run[i : i + 2] for i in range(len(run) - 1))
    return sorted(grams)


def matching_ids_sql(q: str, within: Sequence[int] | None = None) -> tuple[str, list] | None:
    """SQL selecting the ids of links whose document contains every term, or None for no terms.

    Each term goes to the index that can answer it exactly: three or more characters to the
    trigram index; one or two Chinese/Japanese/Korean characters to the grams index; anything else
    short (e.g. "AI") to a LIKE scan of the stored documents.

    ``within``: only these links, each document read by its key. PostgreSQL's planner guesses a
    LIKE matches a handful of rows and would still start from the trigram index and recheck
    every document it names (46,000 for a common word); matching ``document || ''``, which no
    index serves, makes it read just these documents.
    """
    terms = [term.casefold() for term in search_terms(q)]
    if not terms:
        return None
    long_terms = [t for t in terms if len(t) >= TRIGRAM]
    gram_terms = [t for t in terms if len(t) < TRIGRAM and is_cjk(t)]
    scan_terms = [t for t in terms if len(t) < TRIGRAM and not is_cjk(t)]
    conditions: list[str] = []
    params: list = []
    if _vendor() == "sqlite":
        if long_terms:
            conditions.append(f"{TABLE} MATCH %s")
            params.append(" AND ".join(_fts_phrase(t) for t in long_terms))
        for term in scan_terms:
            conditions.append("document LIKE %s ESCAPE '\\'")
            params.append(_like_pattern(term))
        grams_sql = (
            f"SELECT rowid FROM {GRAMS_TABLE} WHERE {GRAMS_TABLE} MATCH %s" if gram_terms else ""
        )
        grams_params = [" AND ".join(_fts_phrase(t) for t in gram_terms)] if gram_terms else []
        if within is not None:
            marks = ", ".join(["%s"] * len(within))
            if not conditions:
                return f"{grams_sql} AND rowid IN ({marks})", [*grams_params, *within]
            conditions.append(f"rowid IN ({marks})")
            params.extend(within)
        if not conditions:
            return grams_sql, grams_params
        if gram_terms:
            conditions.append(f"rowid IN ({grams_sql})")
            params.extend(grams_params)
        return f"SELECT rowid FROM {TABLE} WHERE {' AND '.join(conditions)}", params
    document = "document" if within is None else "(document || '')"
    for term in long_terms + scan_terms:
        conditions.append(f"{document} LIKE %s")
        params.append(_like_pattern(term))
    if gram_terms:
        conditions.append("grams @> %s::text[]")
        params.append(gram_terms)
    if within is not None:
        conditions.append("link_id = ANY(%s)")
        params.append(list(within))
    return f"SELECT link_id FROM {TABLE} WHERE {' AND '.join(conditions)}", params


def matching_ids_among(q: str, ids: Sequence[int]) -> set[int]:
    """Which of these links match the query (all of them for an empty query)."""
    found = matching_ids_sql(q, within=ids) if ids else None
    if found is None:
        return set(ids)
    sql, params = found
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def filter_links(links: QuerySet, q: str) -> QuerySet:
    """Narrow a Link queryset to those matching the query (unchanged for an empty query)."""
    found = matching_ids_sql(q)
    if found is None:
        return links
    sql, params = found
    return pk_in(links, RawSQL(sql, params))


def pk_in(links: QuerySet, ids) -> QuerySet:
    """links.filter(pk__in=ids), written so that SQLite keeps walking the "newest first" index.

    Left to itself SQLite's planner starts from the id list and then sorts all of it, which for a
    tag or term on half of 100,000 links means 50,000 lookups and a sort to show 50 rows. With the
    id wrapped in a unary plus (no index can serve it) it walks links newest first and stops after
    the page, checking each id against the list. PostgreSQL plans this well by itself.
    """
    if connections[links.db].vendor != "sqlite":
        return links.filter(pk__in=ids)
    return links.alias(
        unindexed_pk=Func(F("pk"), template="+%(expressions)s", output_field=BigIntegerField())
    ).filter(unindexed_pk__in=ids)


# ---------------------------------------------------------------------------------------------
# Documents


def _documents_for(ids: Sequence[int]) -> dict[int, str]:
    """Build the search documents of these links in four queries, whatever their number."""
    if not ids:
        return {}
    rows = list(
        Link.objects.filter(pk__in=ids).values_list("id", "title", "url", "description", "notes")
    )
    tag_names: dict[int, list[str]] = {}
    for object_id, name in (
        TaggedItem.objects.filter(content_type=link_content_type(), object_id__in=ids)
        .order_by("tag__name")
        .values_list("object_id", "tag__name")
    ):
        tag_names.setdefault(object_id, []).append(name)
    # The latest succeeded snapshot of each link, chosen here rather than by a correlated
    # subquery: PostgreSQL would combine the link and status indexes for every link (7 ms each).
    latest: dict[int, tuple] = {}
    for snapshot_id, link_id, status, finished, requested in Snapshot.objects.filter(
        link_id__in=ids
    ).values_list("id", "link_id", "status", "finished", "requested"):
        if status != Snapshot.Status.SUCCEEDED:
            continue
        key = (finished is not None, finished or requested, requested, snapshot_id)
        if link_id not in latest or key > latest[link_id]:
            latest[link_id] = key
    best = {link_id: key[3] for link_id, key in latest.items()}
    snapshots = {
        sid: (title, description, text)
        for sid, title, description, text in Snapshot.objects.filter(
            pk__in=list(best.values())
        ).values_list("id", "title", "description", "text")
    }
    rows = [(*row, best.get(row[0])) for row in rows]
    documents = {}
    for link_id, title, url, description, notes, snapshot_id in rows:
        s_title, s_description, text = snapshots.get(snapshot_id, ("", "", ""))
        documents[link_id] = compose_document(
            title=title,
            url=url,
            description=description,
            notes=notes,
            tags=tag_names.get(link_id, ()),
            snapshot_title=s_title,
            snapshot_description=s_description,
            text=text,
        )
    return documents


def compose_document(
    *,
    title: str = "",
    url: str = "",
    description: str = "",
    notes: str = "",
    tags: Iterable[str] = (),
    snapshot_title: str = "",
    snapshot_description: str = "",
    text: str = "",
) -> str:
    values = (
        title,
        url,
        description,
        notes,
        " ".join(tags),
        snapshot_title,
        snapshot_description,
        (text or "")[:MAX_TEXT_CHARACTERS],
    )
    return SEPARATOR.join((value or "").replace(SEPARATOR, " ") for value in values)


def split_document(document: str) -> dict[str, str]:
    values = document.split(SEPARATOR)
    values += [""] * (len(FIELDS) - len(values))
    return dict(zip(FIELDS, values, strict=False))


def _chunks(ids: Sequence[int], size: int = _BATCH):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _key_column() -> str:
    return "rowid" if _vendor() == "sqlite" else "link_id"


def remove_links(ids: Iterable[int]) -> None:
    ids = [int(i) for i in ids]
    if ids:
        revision.bump(connection.alias, revision.SEARCH_INDEX)
    with connection.cursor() as cursor:
        for chunk in _chunks(ids):
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(f"DELETE FROM {TABLE} WHERE {_key_column()} IN ({marks})", chunk)
            if _vendor() == "sqlite":
                cursor.execute(f"DELETE FROM {GRAMS_TABLE} WHERE rowid IN ({marks})", chunk)


def _insert(rows: list[tuple[int, str]]) -> None:
    if rows:
        revision.bump(connection.alias, revision.SEARCH_INDEX)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _BATCH):
            batch = rows[start : start + _BATCH]
            batch = [(key, document.casefold()) for key, document in batch]
            if _vendor() == "sqlite":
                cursor.executemany(f"INSERT INTO {TABLE} (rowid, document) VALUES (%s, %s)", batch)
                cursor.executemany(
                    f"INSERT INTO {GRAMS_TABLE} (rowid, grams) VALUES (%s, %s)",
                    [(key, " ".join(cjk_grams(document))) for key, document in batch],
                )
            else:
                cursor.executemany(
                    f"INSERT INTO {TABLE} (link_id, document, grams) VALUES (%s, %s, %s)",
                    [(key, document, cjk_grams(document)) for key, document in batch],
                )


def write_documents(documents: dict[int, str]) -> None:
    """Replace the index rows of these links (delete, then insert in batches)."""
    if not documents:
        return
    remove_links(documents)
    _insert(list(documents.items()))


def reindex_links(ids: Iterable[int]) -> int:
    """Rebuild the documents of these links; ids of deleted links lose their entry."""
    ids = sorted({int(i) for i in ids})
    total = 0
    for chunk in _chunks(ids):
        documents = _documents_for(chunk)
        remove_links([i for i in chunk if i not in documents])
        write_documents(documents)
        total += len(documents)
    return total


def reindex_link(link_id: int) -> None:
    """Rebuild one link's search entry: after it is saved, retagged, or a capture succeeded."""
    reindex_links([link_id])


def reindex_all(*, batch_size: int = 2000, progress: Callable[[int], None] | None = None) -> int:
    """Rebuild the whole index (e.g. after a bulk load); returns how many links are indexed."""
    with transaction.atomic():
        return _reindex_all(batch_size, progress)


def _reindex_all(batch_size: int, progress: Callable[[int], None] | None) -> int:
    postgres = _vendor() == "postgresql"
    revision.bump(connection.alias, revision.SEARCH_INDEX)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE}")
        if not postgres:
            cursor.execute(f"DELETE FROM {GRAMS_TABLE}")
        else:
            # Building a GIN index once is far faster than updating it row by row.
            for name, _definition in POSTGRES_INDEXES:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
    ids = list(Link.objects.order_by("pk").values_list("pk", flat=True))
    total = 0
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        documents = {}
        for piece in _chunks(chunk):
            documents.update(_documents_for(piece))
        _insert(list(documents.items()))
        total += len(documents)
        if progress is not None:
            progress(len(chunk))
    if postgres:
        with connection.cursor() as cursor:
            # GIN builds are much faster with room to sort in memory (this transaction only).
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for name, definition in POSTGRES_INDEXES:
                cursor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {TABLE} {definition}")
            cursor.execute(f"ANALYZE {TABLE}")
    else:
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('optimize')")
            cursor.execute(f"INSERT INTO {GRAMS_TABLE}({GRAMS_TABLE}) VALUES ('optimize')")
    return total


def link_documents(ids: Iterable[int]) -> dict[int, str]:
    """These links' documents in their own letters (the index keeps them folded), for excerpts.

    Four queries per 500 links, whatever the links hold.
    """
    ids = sorted({int(i) for i in ids})
    found: dict[int, str] = {}
    for chunk in _chunks(ids):
        found.update(_documents_for(chunk))
    return found


def term_pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    """A case-insensitive pattern finding any of the terms, longest first."""
    if not terms:
        return None
    ordered = sorted(terms, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in ordered), re.IGNORECASE)


__all__ = [
    "compose_document",
    "filter_links",
    "link_documents",
    "matching_ids_sql",
    "reindex_all",
    "reindex_link",
    "reindex_links",
    "remove_links",
    "search_terms",
    "split_document",
]
