"""PostgreSQL's CJK grams also hold runs of three characters, within a tsvector's size.

- A three-character Chinese, Japanese or Korean term ("交叉熵") is then one exact lookup in the
  grams index, as one- and two-character terms already were, not a LIKE that rechecks every
  document pg_trgm names (37,777 for a common one: 300 ms to count them). Longer terms look up
  their runs of three first, then check those documents.
- A tsvector holds at most 1 MB of lexemes. A long page of varied Chinese or Korean has more
  distinct pairs than that: its row could not be written, and its capture was never searchable.
  Such a page now keeps its single characters and a mark (see search.postgres_grams); lookups
  of longer terms check the pages so marked by LIKE.

SQLite is unchanged: its trigram table answers three characters or more exactly. The rules of
search.postgres_grams are repeated here so that this migration keeps working when the module
changes.
"""

import re

from django.db import migrations

TABLE = "snapshots_link_search"
GRAMS_INDEX = "snapshots_link_search_grams_tsv"
BATCH = 1000
LONGEST = 3
MAX_GRAM_BYTES = 800_000
INCOMPLETE = "\x1e"
_CJK_RUN = re.compile(
    "[\u3041-\u30fa\u30fc-\u30ff\u3105-\u312f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7a3\uf900-\ufaff\U00020000-\U0003134f]+"
)


def grams_of(document: str) -> list[str]:
    grams: set[str] = set()
    for run in _CJK_RUN.findall(document):
        for size in range(1, LONGEST + 1):
            grams.update(run[i : i + size] for i in range(len(run) - size + 1))
    if sum(len(gram.encode()) for gram in grams) <= MAX_GRAM_BYTES:
        return sorted(grams)
    return sorted(gram for gram in grams if len(gram) == 1) + [INCOMPLETE]


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        # Rewriting every row is far faster with no GIN index to update row by row.
        cursor.execute(f"DROP INDEX IF EXISTS {GRAMS_INDEX}")
        last = -1
        while True:
            # Only documents with CJK letters have grams to add.
            cursor.execute(
                f"SELECT link_id, document FROM {TABLE} "  # noqa: S608
                "WHERE link_id > %s AND cardinality(grams) > 0 ORDER BY link_id LIMIT %s",
                [last, BATCH],
            )
            rows = cursor.fetchall()
            if not rows:
                break
            last = rows[-1][0]
            ids = [link_id for link_id, _document in rows]
            grams = [grams_of(document) for _link_id, document in rows]
            # one statement per batch: row-by-row updates take minutes for 100,000 links. The
            # grams travel as one text per row (split again below): arrays of unequal length
            # cannot be unnested side by side.
            cursor.execute(
                f"UPDATE {TABLE} SET grams = string_to_array(batch.grams, %s) FROM (SELECT "  # noqa: S608
                "unnest(%s::bigint[]) AS link_id, unnest(%s::text[]) AS grams) AS batch "
                f"WHERE {TABLE}.link_id = batch.link_id",
                [" ", ids, [" ".join(row) for row in grams]],
            )
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {GRAMS_INDEX} ON {TABLE} "
            "USING gin (array_to_tsvector(grams))"
        )
        cursor.execute(f"ANALYZE {TABLE}")


def backwards(apps, schema_editor):
    # The runs of three stay: harmless to the earlier code, which never asks for one. (A page
    # marked INCOMPLETE lacks its pairs there, as it lacked its whole row before.)
    pass


class Migration(migrations.Migration):
    # One transaction on PostgreSQL (Django's default there): a crash leaves the old grams or
    # the new ones, never a half-built index.
    dependencies = [
        ("snapshots", "0022_link_search_word_pairs"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
