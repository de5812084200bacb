"""Full-text search over the library: one search document per link, kept in its own index table.

The document is the link's title, URL, description, notes, tags and its latest *succeeded*
snapshot's title, description and main text, joined by a separator.

The contract, identical on both databases: the query is read by snapshots.search_language (phrases,
-word, OR, #tag, site:, is:, after:/before:) and each text term is looked up by `lookup_for`:
Latin words are matched as whole words (a quoted phrase: the words next to each other) through a
word-level index; Chinese, Japanese and Korean terms, terms in other scripts written without
spaces (Thai, Lao, Myanmar, Khmer), and terms with no letter or digit, as case-insensitive
substrings. Substring semantics are what make a Chinese word ("交叉熵") findable
inside Chinese text written without spaces. snapshots.queries turns the whole query into a filter.

Documents are stored case-folded (str.casefold) and terms folded the same way, so matching is a
plain LIKE and case-insensitive in every script on both databases. (PostgreSQL's ILIKE lowercases
each document it checks, 3.5x the cost of LIKE: a second of a common word's count.) Excerpts are
cut from the links' own text, not from the index.

- Latin words use the word index: SQLite an FTS5 table with unicode61 tokens (positions kept, for
  phrases), PostgreSQL a tsvector column (the 'simple' configuration: no stemming, no stop words)
  with a GIN index. Both are given the words `latin_words` finds, so both split text the same way.
  PostgreSQL's tsvector also holds each pair of adjacent words as one lexeme ("gradient descent"):
  its GIN index keeps no word positions, so a phrase of single words would be rechecked in every
  document holding both (35,000 of 100,000 for a common pair, 300 ms); the pair is one exact
  lookup, and a longer phrase is the AND of its pairs, rechecked for order in the few that hold
  them all.
- Substrings of three or more characters use the trigram index. SQLite: an FTS5 table with the
  trigram tokenizer (SQLite ≥ 3.34), queried with MATCH and a quoted phrase, which is a substring
  match. PostgreSQL: a GIN index with pg_trgm's gin_trgm_ops, queried with LIKE.
- One- or two-character terms have no trigram. Chinese, Japanese and Korean ones (common: "熵",
  "损失") are answered exactly from a second index of each document's CJK characters and runs of
  adjacent ones (cjk_grams): SQLite keeps characters and pairs in an FTS5 table with unicode61
  tokens, PostgreSQL characters, pairs and runs of three in a text[] column with a GIN index on it
  as a tsvector (array_to_tsvector), so that "损失 -熵" is one tsquery the index answers whole (an
  array index cannot answer "not 熵"), and so is a three-character term ("交叉熵"), which pg_trgm
  could only name candidates for. Longer CJK terms look up their runs of three there first.
  Other short terms ("AI", "C#") fall back to LIKE over the stored documents, which scans them.
- A PostgreSQL tsvector holds at most 1 MB of lexemes. A page of more varied words or CJK runs
  than that keeps its words up to that room (postgres_words), or only its single CJK characters
  and a mark, its longer terms then checked by LIKE (postgres_grams): never a row refused.

The tables are created by migrations 0002, 0003, 0016, 0022 and 0023 (vendor-aware) and are not Django
models: the rows are written only by the functions here, which the link services and the capture task call. Every write
gives the index a new revision token (snapshots.revision.SEARCH_INDEX).
"""

# SQL here is built only from the constant table/column names; every value is a parameter.
# ruff: noqa: S608

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from django.db import connection, connections, transaction
from django.db.models import BigIntegerField, F, Func, QuerySet
from taggit.models import TaggedItem

from snapshots import revision
from snapshots.models import Link, Snapshot, link_content_type
from snapshots.search_language import SEPARATOR, Text, parse

TABLE = "snapshots_link_search"
GRAMS_TABLE = "snapshots_link_search_grams"  # SQLite only; PostgreSQL keeps a grams column
WORDS_TABLE = "snapshots_link_search_words"  # SQLite only; PostgreSQL keeps a words column
# Letters of scripts written without spaces: kana, bopomofo, CJK ideographs, Hangul syllables.
_CJK_RUN = re.compile(
    "[\u3041-\u30fa\u30fc-\u30ff\u3105-\u312f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7a3\uf900-\ufaff\U00020000-\U0003134f]+"
)
# Other scripts written without spaces between words, which kb does not split into grams: Thai,
# Lao, Myanmar, Khmer. A term in them is found as a substring, as Chinese is (the trigram index,
# or LIKE when shorter); their runs are left out of the word index, where a whole sentence would
# be one "word" (or too long a one, and dropped).
_UNSPACED_RUN = re.compile("[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]+")
# Letters and digits (any script); CJK and unspaced runs are taken out first (latin_words).
_WORD = re.compile(r"[^\W_]+")
# Fields are joined by the ASCII record separator (search_language.SEPARATOR): no query term
# contains it, so no substring matches across two fields, and the excerpt code can split the
# document back into its fields.
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
# The PostgreSQL indexes of TABLE, as migrations 0002, 0016 and 0022 make them (reindex_all
# rebuilds them).
POSTGRES_INDEXES = (
    ("snapshots_link_search_document_trgm", "USING gin (document gin_trgm_ops)"),
    ("snapshots_link_search_grams_tsv", "USING gin (array_to_tsvector(grams))"),
    ("snapshots_link_search_words_gin", "USING gin (words)"),
)
# PostgreSQL keeps word positions up to 16,383 (later words all share that one), so a phrase can
# only be found among a document's first 16,383 words there; its word pairs are taken from as
# many.
MAX_PAIRED_WORDS = 16_383
# A tsvector holds at most 1 MB of lexemes (PostgreSQL): a page's words are indexed until its
# distinct ones take MAX_WORD_BYTES, its pairs until they take MAX_PAIR_BYTES. 300,000
# characters of prose use a fraction of either; a word list or a dump of identifiers in Cyrillic
# would take 1.7 MB, and its row could not be written at all.
MAX_WORD_BYTES = 640_000
MAX_PAIR_BYTES = 320_000
MAX_TEXT_CHARACTERS = 300_000
MAX_TERMS = 12
# Longer "words" (base64, hashes) are left out of the word index; PostgreSQL refuses > 2047 bytes.
MAX_WORD_LENGTH = 100
TRIGRAM = 3
# PostgreSQL's grams: runs of up to this many CJK characters, while their lexemes take at most
# MAX_GRAM_BYTES (a tsvector's limit is 1 MB); past it, single characters and INCOMPLETE.
POSTGRES_GRAM = 3
MAX_GRAM_BYTES = 800_000
INCOMPLETE = "\x1e"  # the record separator: never a CJK gram
_BATCH = 500
# At most this many ids are handed to a query as a list (few_ids).
FEW_IDS = 5000


def _vendor() -> str:
    return connection.vendor


def search_terms(q: str) -> list[str]:
    """The text a query searches for, in the order typed (operators and negated terms left out)."""
    return [text.value for text in parse(q).texts()][:MAX_TERMS]


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def is_cjk(text: str) -> bool:
    """True when every character is a Chinese, Japanese or Korean letter (scripts without spaces)."""
    return bool(text) and _CJK_RUN.fullmatch(text) is not None


def cjk_grams(document: str, longest: int = 2) -> list[str]:
    """The distinct runs of 1 to ``longest`` adjacent CJK characters of the document.

    A CJK term of at most ``longest`` characters is a substring of the document exactly when it
    is one of these grams, so an exact token lookup answers it (no positions, no scan).
    """
    grams: set[str] = set()
    for run in _CJK_RUN.findall(document):
        for size in range(1, longest + 1):
            grams.update(_windows(run, size))
    return sorted(grams)


def _windows(run: str, size: int) -> list[str]:
    """Every stretch of ``size`` adjacent characters of ``run``."""
    return [run[i : i + size] for i in range(len(run) - size + 1)]


def postgres_grams(document: str) -> list[str]:
    """What PostgreSQL's grams column holds: runs of up to three CJK characters, if they fit.

    A tsvector holds at most 1 MB of lexemes: a long page of varied Chinese (or Korean) has more
    distinct pairs and triples than that, and its row could not be written at all. Such a page
    keeps its single characters (a few thousand at most) and the INCOMPLETE mark; the lookups of
    longer grams check the documents so marked by LIKE (_postgres_ids_sql).
    """
    grams = cjk_grams(document, POSTGRES_GRAM)
    if sum(len(gram.encode()) for gram in grams) <= MAX_GRAM_BYTES:
        return grams
    return [gram for gram in grams if len(gram) == 1] + [INCOMPLETE]


def gram_length() -> int:
    """The longest CJK term the grams index answers exactly on this database.

    SQLite's trigram table answers three characters or more exactly; PostgreSQL's pg_trgm index
    only names candidates, each rechecked (37,777 documents for a common "交叉熵", 300 ms), so
    its grams hold runs of three too: such a term is one exact lookup.
    """
    return POSTGRES_GRAM if _vendor() == "postgresql" else 2


def latin_words(text: str) -> list[str]:
    """The words of the text outside CJK and unspaced runs, case-folded: what the word index holds.

    Letters and digits make a word; everything else (spaces, punctuation, "_", "-", ".") separates
    words, so "cross-entropy" is the words "cross" and "entropy", and "node.js" is "node" "js".
    Both databases index exactly these words (the index is given them, not the raw text).
    """
    words = _WORD.findall(_UNSPACED_RUN.sub(" ", _CJK_RUN.sub(" ", text.casefold())))
    return [word for word in words if len(word) <= MAX_WORD_LENGTH]


def index_words(document: str) -> str:
    return " ".join(latin_words(document))


def word_pairs(words: Sequence[str]) -> list[str]:
    """The distinct pairs of adjacent words ("gradient descent"), PostgreSQL's phrase lexemes:
    from the first MAX_PAIRED_WORDS words, while they take at most MAX_PAIR_BYTES."""
    pairs: set[str] = set()
    size = 0
    for first, second in pairwise(words[:MAX_PAIRED_WORDS]):
        pair = f"{first} {second}"
        if pair not in pairs:
            size += len(pair.encode())
            if size > MAX_PAIR_BYTES:
                break
            pairs.add(pair)
    return sorted(pairs)


def postgres_words(document: str) -> list[str]:
    """The words PostgreSQL indexes, in order: all of them, or those before the distinct ones
    take MAX_WORD_BYTES (a tsvector's room; see above)."""
    words = latin_words(document)
    seen: set[str] = set()
    size = 0
    for position, word in enumerate(words):
        if word not in seen:
            size += len(word.encode())
            if size > MAX_WORD_BYTES:
                return words[:position]
            seen.add(word)
    return words


def _tsquery_lexeme(value: str) -> str:
    # A quoted lexeme in tsquery's own syntax: taken as it is, spaces included, not parsed.
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _words_tsquery(value: str) -> tuple[str, list[str]]:
    """The tsquery (SQL, params) of one words lookup: a word, or a phrase through its pairs."""
    words = value.split()
    if len(words) < 2:
        return "phraseto_tsquery('simple', %s)", [value]
    pairs = " & ".join(_tsquery_lexeme(pair) for pair in word_pairs(words))
    if len(words) == 2:
        return "%s::tsquery", [pairs]
    # every pair present (the index), then in this order (a recheck of those few documents)
    return "(%s::tsquery && phraseto_tsquery('simple', %s))", [pairs, value]


@dataclass(frozen=True)
class Lookup:
    """One text term, and the index that answers it exactly.

    - ``words``: Latin words, matched whole (and next to each other when several: a phrase).
    - ``trigram``: a substring of three or more characters (Chinese, or text with no word in it).
    - ``grams``: one or two CJK characters, looked up among the documents' CJK grams.
    - ``scan``: anything else short, by LIKE over the stored documents.
    """

    index: str
    value: str


def lookup_for(text: Text) -> Lookup:
    value = " ".join(text.value.casefold().split())
    if not _CJK_RUN.search(value) and not _UNSPACED_RUN.search(value):
        words = latin_words(value)
        if words:
            return Lookup("words", " ".join(words))
    if is_cjk(value) and len(value) <= gram_length():
        return Lookup("grams", value)
    if len(value) >= TRIGRAM:
        return Lookup("trigram", value)
    return Lookup("scan", value)


# The SQLite FTS5 table answering each kind of lookup.
_FTS_TABLES = {"words": WORDS_TABLE, "trigram": TABLE, "grams": GRAMS_TABLE}


def excluded_in_match(lookups: Sequence[Lookup], excluded: Sequence[Lookup]) -> list[Lookup]:
    """Which negated terms (`-word`) text_ids_sql can leave out of its own matches.

    A negated term is then checked on the very index row that matched the wanted terms, rather
    than by a second lookup of every document holding it (a common word: half the library,
    listed and compared per link; 'entropy -gradient' 38 ms on SQLite, 4 ms inside one MATCH).
    SQLite: a term of an FTS5 table the wanted terms already MATCH (its `NOT` operator).
    PostgreSQL: a word, phrase or CJK gram when wanted ones of the same kind are looked up: the
    same tsquery then says "and not", and its GIN index answers it without reading a document
    ('损失 -熵' 19 ms, against 350 when each document holding 损失 had its gram array read).
    """
    if not lookups:
        return []
    wanted = {lookup.index for lookup in lookups}
    kinds = _FTS_TABLES if _vendor() == "sqlite" else ("words", "grams")
    return [lookup for lookup in excluded if lookup.index in kinds and lookup.index in wanted]


def text_ids_sql(
    lookups: Sequence[Lookup],
    within: Sequence[int] | None = None,
    excluded: Sequence[Lookup] = (),
) -> tuple[str, list]:
    """SQL selecting the ids of links whose document answers every lookup.

    ``excluded``: negated terms none of the documents may answer, as chosen by
    `excluded_in_match` (the caller checks any others itself).

    ``within``: only these links, each document read by its key. PostgreSQL's planner guesses a
    LIKE matches a handful of rows and would still start from the trigram index and recheck
    every document it names (46,000 for a common word); matching ``document || ''``, which no
    index serves, makes it read just these documents.
    """
    by_index: dict[str, list[str]] = {}
    for lookup in lookups:
        by_index.setdefault(lookup.index, []).append(lookup.value)
    unwanted: dict[str, list[str]] = {}
    for lookup in excluded_in_match(lookups, excluded):
        unwanted.setdefault(lookup.index, []).append(lookup.value)
    if _vendor() == "sqlite":
        return _sqlite_ids_sql(by_index, within, unwanted)
    return _postgres_ids_sql(by_index, within, unwanted)


def _sqlite_ids_sql(by_index: dict[str, list[str]], within, unwanted) -> tuple[str, list]:
    # One MATCH per FTS5 table: its query language ANDs the phrases itself, and leaves out the
    # negated ones ("a NOT b"; parenthesised, as FTS5's NOT binds tighter than AND).
    selects: list[tuple[str, list]] = []
    for index, table in _FTS_TABLES.items():
        if index in by_index:
            phrases = " AND ".join(_fts_phrase(value) for value in by_index[index])
            for value in unwanted.get(index, []):
                phrases = f"({phrases}) NOT {_fts_phrase(value)}"
            selects.append((f"SELECT rowid FROM {table} WHERE {table} MATCH %s", [phrases]))
    if "scan" in by_index or not selects:
        likes = " AND ".join(["document LIKE %s ESCAPE '\\'"] * len(by_index.get("scan", [])))
        selects.append(
            (
                f"SELECT rowid FROM {TABLE} WHERE {likes or '1'}",
                [_like_pattern(value) for value in by_index.get("scan", [])],
            )
        )
    sql, params = selects[0]
    for other_sql, other_params in selects[1:]:
        sql += f" AND rowid IN ({other_sql})"
        params = [*params, *other_params]
    if within is not None:
        # FTS5 answers a rowid range by reading only that stretch of each term's list of
        # documents, but an IN list by one seek per id: 'entropy -gradient' over a window of
        # 680 links took 4.7 ms with IN, 0.08 ms with the range. The list (its unary plus
        # keeps FTS5 from using it) then keeps just the window's links.
        sql += " AND rowid BETWEEN %s AND %s"
        sql += f" AND +rowid IN ({', '.join(['%s'] * len(within))})"
        params = [*params, min(within, default=0), max(within, default=0), *within]
    return sql, params


def _postgres_ids_sql(by_index: dict[str, list[str]], within, unwanted) -> tuple[str, list]:
    # Grams of two or three characters are in the index for every document but the few marked
    # INCOMPLETE (postgres_grams), which are checked by LIKE instead: two selects, one for each
    # kind of document (disjoint, so UNION ALL). A window of links is read by LIKE anyway.
    hints = sorted(
        {gram for value in by_index.get("trigram", []) for gram in _runs_of_three(value)}
    )
    grams = [*by_index.get("grams", []), *unwanted.get("grams", []), *hints]
    if within is not None or all(len(gram) == 1 for gram in grams):
        return _postgres_select(by_index, within, unwanted, marked=None)
    complete_sql, complete_params = _postgres_select(
        by_index, within, unwanted, marked=False, hints=hints
    )
    marked_sql, marked_params = _postgres_select(by_index, within, unwanted, marked=True)
    return f"{complete_sql} UNION ALL {marked_sql}", [*complete_params, *marked_params]


def _runs_of_three(value: str) -> set[str]:
    """The longest grams a document holding ``value`` must hold: its runs of three CJK characters
    (the whole run, if shorter). They name its candidates; LIKE then checks them."""
    runs: set[str] = set()
    for run in _CJK_RUN.findall(value):
        runs.update(_windows(run, min(len(run), POSTGRES_GRAM)))
    return runs


def _postgres_select(
    by_index: dict[str, list[str]],
    within,
    unwanted,
    *,
    marked: bool | None,
    hints: Sequence[str] = (),
) -> tuple[str, list]:
    """One SELECT of link ids. ``marked``: only documents whose grams are INCOMPLETE (True), only
    the others (False), or any (None: no gram longer than one character is looked up, or a window
    of links is read by LIKE)."""
    document = "document" if within is None else "(document || '')"
    by_like = within is not None or marked is True  # grams longer than one character
    conditions: list[str] = []
    params: list = []
    if "words" in by_index or "words" in unwanted:
        # Wanted and unwanted words in one tsquery: the GIN index answers both at once.
        phrases = []
        for negation, values in (
            ("", by_index.get("words", [])),
            ("!! ", unwanted.get("words", [])),
        ):
            for value in values:
                phrase_sql, phrase_params = _words_tsquery(value)
                phrases.append(negation + phrase_sql)
                params.extend(phrase_params)
        conditions.append("words @@ (" + " && ".join(phrases) + ")")
    likes = by_index.get("trigram", []) + by_index.get("scan", [])
    not_likes = unwanted.get("trigram", []) + unwanted.get("scan", [])
    lexemes: list[str] = []
    for negation, values in (("", by_index.get("grams", [])), ("!", unwanted.get("grams", []))):
        for value in values:
            if by_like and len(value) > 1:
                (not_likes if negation else likes).append(value)
            else:
                lexemes.append(negation + _tsquery_lexeme(value))
    if marked is not None:
        lexemes += [_tsquery_lexeme(hint) for hint in hints]
        lexemes.append(("" if marked else "!") + _tsquery_lexeme(INCOMPLETE))
    for value in likes:
        conditions.append(f"{document} LIKE %s")
        params.append(_like_pattern(value))
    for value in not_likes:
        conditions.append(f"{document} NOT LIKE %s")
        params.append(_like_pattern(value))
    if lexemes:
        # the expression of the grams index (snapshots_link_search_grams_tsv)
        conditions.append("array_to_tsvector(grams) @@ %s::tsquery")
        params.append(" & ".join(lexemes))
    if within is not None:
        conditions.append("link_id = ANY(%s)")
        params.append(list(within))
    return f"SELECT link_id FROM {TABLE} WHERE {' AND '.join(conditions) or 'true'}", params


def few_ids(sql: str, params: list, limit: int = FEW_IDS) -> list[int] | None:
    """The ids `sql` (from text_ids_sql) selects, if there are at most `limit`; else None.

    For PostgreSQL's planner, which cannot tell how many documents a tsquery of several terms
    matches: a list of ids is a count it plans by. SQLite walks its FTS5 answers as they come.
    """
    if _vendor() != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} LIMIT %s", [*params, limit + 1])
        ids = [row[0] for row in cursor.fetchall()]
    return ids if len(ids) <= limit else None


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


def key_column() -> str:
    """The column of the search table holding the link's id."""
    return "rowid" if _vendor() == "sqlite" else "link_id"


def remove_links(ids: Iterable[int]) -> None:
    ids = [int(i) for i in ids]
    if ids:
        revision.bump(connection.alias, revision.SEARCH_INDEX)
    with connection.cursor() as cursor:
        for chunk in _chunks(ids):
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(f"DELETE FROM {TABLE} WHERE {key_column()} IN ({marks})", chunk)
            if _vendor() == "sqlite":
                cursor.execute(f"DELETE FROM {GRAMS_TABLE} WHERE rowid IN ({marks})", chunk)
                cursor.execute(f"DELETE FROM {WORDS_TABLE} WHERE rowid IN ({marks})", chunk)


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
                cursor.executemany(
                    f"INSERT INTO {WORDS_TABLE} (rowid, words) VALUES (%s, %s)",
                    [(key, index_words(document)) for key, document in batch],
                )
            else:
                values = []
                for key, document in batch:
                    words = postgres_words(document)
                    grams = postgres_grams(document)
                    values.append((key, document, grams, " ".join(words), word_pairs(words)))
                cursor.executemany(
                    f"INSERT INTO {TABLE} (link_id, document, grams, words) VALUES (%s, %s, %s, "
                    "to_tsvector('simple', %s) || array_to_tsvector(%s::text[]))",
                    values,
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
            cursor.execute(f"DELETE FROM {WORDS_TABLE}")
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
            cursor.execute(f"INSERT INTO {WORDS_TABLE}({WORDS_TABLE}) VALUES ('optimize')")
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
    """A case-insensitive pattern finding any of the terms as the search finds them, longest first.

    Latin words whole (a phrase's words with anything but letters between them), the rest as
    substrings.
    """
    pieces = []
    for term in sorted(terms, key=len, reverse=True):
        lookup = lookup_for(Text(term))
        if lookup.index == "words":
            words = lookup.value.split()
            pieces.append(r"(?<![^\W_])" + r"[\W_]+".join(map(re.escape, words)) + r"(?![^\W_])")
        else:
            pieces.append(re.escape(term))
    if not pieces:
        return None
    return re.compile("|".join(pieces), re.IGNORECASE)


__all__ = [
    "compose_document",
    "index_words",
    "latin_words",
    "link_documents",
    "lookup_for",
    "reindex_all",
    "reindex_link",
    "reindex_links",
    "remove_links",
    "search_terms",
    "split_document",
    "text_ids_sql",
]
