"""PostgreSQL's search index learns phrases and "not", and counts faster (see snapshots/search.py).

- The words tsvector also holds each pair of adjacent words as one lexeme ("gradient descent"),
  so a phrase is an exact index lookup rather than a recheck of every document holding its words.
- The CJK grams are indexed as a tsvector (array_to_tsvector), so "损失 -熵" is one tsquery the
  index answers whole; the array index it replaces could not answer "not 熵".

- The table keeps only keys and pointers in its rows (toast_tuple_target 128; the document stored
  out of line, uncompressed): counting 35,000 matches of a word visits each one's row, and with
  documents of up to 2 KB kept inline those rows filled 194 MB for 100,000 links (60 ms a count);
  narrow, 9 MB (9 ms). The document is not compressed so that a substring check reads it without
  decompressing it (as fast as before, 220 ms for 37,000 rechecks).

SQLite is unchanged: FTS5 keeps word positions in its index and has its own NOT. The rules of
search.latin_words and search.word_pairs are repeated here so that this migration keeps
working when the module changes.
"""

import re
from itertools import pairwise

from django.db import migrations

TABLE = "snapshots_link_search"
WORDS_INDEX = "snapshots_link_search_words_gin"
OLD_GRAMS_INDEX = "snapshots_link_search_grams_gin"
GRAMS_INDEX = "snapshots_link_search_grams_tsv"
BATCH = 1000
MAX_PAIRED_WORDS = 16_383
PAIR_SEPARATOR = "\x1f"  # never inside a word (words are letters and digits)
_CJK_RUN = re.compile(
    "[\u3041-\u30fa\u30fc-\u30ff\u3105-\u312f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7a3\uf900-\ufaff\U00020000-\U0003134f]+"
)
_WORD = re.compile(r"[^\W_]+")


def latin_words(document: str) -> list[str]:
    words = _WORD.findall(_CJK_RUN.sub(" ", document.casefold()))
    return [word for word in words if len(word) <= 100]


def word_pairs(words: list[str]) -> list[str]:
    words = words[:MAX_PAIRED_WORDS]
    return sorted({f"{first} {second}" for first, second in pairwise(words)})


def _batches(cursor):
    last = -1
    while True:
        cursor.execute(
            f"SELECT link_id, document FROM {TABLE} WHERE link_id > %s "  # noqa: S608
            "ORDER BY link_id LIMIT %s",
            [last, BATCH],
        )
        rows = cursor.fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield rows


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        # Rewriting every row is far faster with no GIN index to update row by row.
        cursor.execute(f"DROP INDEX IF EXISTS {WORDS_INDEX}")
        cursor.execute(f"DROP INDEX IF EXISTS {OLD_GRAMS_INDEX}")
        cursor.execute(f"ALTER TABLE {TABLE} SET (toast_tuple_target = 128)")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN document SET STORAGE EXTERNAL")
        for rows in _batches(cursor):
            ids, words, pairs = [], [], []
            for link_id, document in rows:
                found = latin_words(document)
                ids.append(link_id)
                words.append(" ".join(found))
                pairs.append(PAIR_SEPARATOR.join(word_pairs(found)))
            # one statement per batch: row-by-row updates take minutes for 100,000 links
            cursor.execute(
                # `document || ''`: a new value, stored by the column's new rule
                f"UPDATE {TABLE} SET document = {TABLE}.document || '', "  # noqa: S608
                "words = to_tsvector('simple', batch.words) || "
                "array_to_tsvector(string_to_array(batch.pairs, %s)) FROM (SELECT "
                "unnest(%s::bigint[]) AS link_id, unnest(%s::text[]) AS words, "
                f"unnest(%s::text[]) AS pairs) AS batch WHERE {TABLE}.link_id = batch.link_id",
                [PAIR_SEPARATOR, ids, words, pairs],
            )
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute(f"CREATE INDEX IF NOT EXISTS {WORDS_INDEX} ON {TABLE} USING gin (words)")
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {GRAMS_INDEX} ON {TABLE} "
            "USING gin (array_to_tsvector(grams))"
        )
        cursor.execute(f"ANALYZE {TABLE}")


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        # The pair lexemes stay in the words column: harmless to the earlier code, which never
        # asks for a lexeme with a space in it.
        cursor.execute(f"ALTER TABLE {TABLE} RESET (toast_tuple_target)")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN document SET STORAGE EXTENDED")
        cursor.execute(f"DROP INDEX IF EXISTS {GRAMS_INDEX}")
        cursor.execute(f"CREATE INDEX IF NOT EXISTS {OLD_GRAMS_INDEX} ON {TABLE} USING gin (grams)")


class Migration(migrations.Migration):
    # One transaction on PostgreSQL (Django's default there): a crash leaves the old index or
    # the new one, never none.
    dependencies = [
        ("snapshots", "0021_link_private_owner"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
