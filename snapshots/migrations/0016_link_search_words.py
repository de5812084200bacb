"""A word-level index beside the trigram one (see snapshots/search.py): Latin words are looked up
whole through it, so "gradient descent" is two word lookups rather than trigram matches rechecked
over every document holding them.

SQLite: an FTS5 table with unicode61 tokens (positions kept, for phrases; diacritics kept, as on
PostgreSQL). PostgreSQL: a tsvector column ('simple' configuration) with a GIN index. Both are
filled here from the documents already indexed, with the words search.latin_words finds (the
rule is repeated below so that this migration keeps working when the module changes).
"""

import re

from django.db import migrations

TABLE = "snapshots_link_search"
WORDS_TABLE = "snapshots_link_search_words"
WORDS_INDEX = "snapshots_link_search_words_gin"
BATCH = 2000
_CJK_RUN = re.compile(
    "[\u3041-\u30fa\u30fc-\u30ff\u3105-\u312f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7a3\uf900-\ufaff\U00020000-\U0003134f]+"
)
_WORD = re.compile(r"[^\W_]+")


def index_words(document: str) -> str:
    words = _WORD.findall(_CJK_RUN.sub(" ", document.casefold()))
    return " ".join(word for word in words if len(word) <= 100)


def _documents(cursor, key):
    last = -1
    while True:
        cursor.execute(
            f"SELECT {key}, document FROM {TABLE} WHERE {key} > %s ORDER BY {key} LIMIT %s",  # noqa: S608
            [last, BATCH],
        )
        rows = cursor.fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield [(link_id, index_words(document)) for link_id, document in rows]


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {WORDS_TABLE} "
                "USING fts5(words, tokenize='unicode61 remove_diacritics 0')"
            )
            for rows in _documents(cursor, "rowid"):
                cursor.executemany(
                    f"INSERT INTO {WORDS_TABLE} (rowid, words) VALUES (%s, %s)",  # noqa: S608
                    rows,
                )
            cursor.execute(f"INSERT INTO {WORDS_TABLE}({WORDS_TABLE}) VALUES ('optimize')")  # noqa: S608
        elif connection.vendor == "postgresql":
            cursor.execute(
                f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS words tsvector "
                "NOT NULL DEFAULT ''::tsvector"
            )
            for rows in _documents(cursor, "link_id"):
                # one statement per batch: row-by-row updates took minutes for 100,000 links
                cursor.execute(
                    f"UPDATE {TABLE} SET words = to_tsvector('simple', batch.words) "  # noqa: S608
                    "FROM (SELECT unnest(%s::bigint[]) AS link_id, unnest(%s::text[]) AS words)"
                    f" AS batch WHERE {TABLE}.link_id = batch.link_id",
                    [[link_id for link_id, _ in rows], [words for _, words in rows]],
                )
            # Built once after the rows are written: far faster than updating it row by row.
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {WORDS_INDEX} ON {TABLE} USING gin (words)")
            cursor.execute(f"ANALYZE {TABLE}")


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"DROP TABLE IF EXISTS {WORDS_TABLE}")
        elif connection.vendor == "postgresql":
            cursor.execute(f"DROP INDEX IF EXISTS {WORDS_INDEX}")
            cursor.execute(f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS words")


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0015_snapshot_lead_image"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
