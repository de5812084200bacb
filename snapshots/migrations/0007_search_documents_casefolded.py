"""Search documents are stored case-folded (see snapshots/search.py), so matching is a plain LIKE.

This rewrites the documents already indexed, folding them with Python's str.casefold exactly as
new ones are. PostgreSQL: the trigram index is dropped first and built once at the end (updating
a GIN index row by row is far slower). Reversing leaves the folded documents, which the older
code still finds (its ILIKE and FTS5 MATCH ignore case).
"""

from django.db import migrations

TABLE = "snapshots_link_search"
TRIGRAM_INDEX = "snapshots_link_search_document_trgm"
BATCH = 2000


def fold_documents(apps, schema_editor):
    connection = schema_editor.connection
    key = "rowid" if connection.vendor == "sqlite" else "link_id"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TABLE}")  # noqa: S608 - constant names
        if not cursor.fetchone()[0]:
            return
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP INDEX IF EXISTS {TRIGRAM_INDEX}")
        last = -1
        while True:
            cursor.execute(
                f"SELECT {key}, document FROM {TABLE} WHERE {key} > %s ORDER BY {key} LIMIT %s",  # noqa: S608
                [last, BATCH],
            )
            rows = cursor.fetchall()
            if not rows:
                break
            last = rows[-1][0]
            changed = [
                (document.casefold(), k) for k, document in rows if document != document.casefold()
            ]
            if changed:
                cursor.executemany(
                    f"UPDATE {TABLE} SET document = %s WHERE {key} = %s",  # noqa: S608
                    changed,
                )
        if connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {TRIGRAM_INDEX} ON {TABLE} "
                "USING gin (document gin_trgm_ops)"
            )
        else:
            # merge the segments the updates wrote: a fragmented FTS5 index searches 2x slower
            cursor.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('optimize')")  # noqa: S608


def tidy(apps, schema_editor):
    """PostgreSQL: reclaim the rewritten rows' old versions and refresh the planner's statistics.

    VACUUM cannot run in a transaction, hence this migration is not atomic.
    """
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {TABLE}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [
        ("snapshots", "0006_search_index_revision"),
    ]

    operations = [
        migrations.RunPython(fold_documents, migrations.RunPython.noop, atomic=True),
        migrations.RunPython(tidy, migrations.RunPython.noop),
    ]
