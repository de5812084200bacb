"""The library's search index (see snapshots/search.py): not a model, so built here per database.

SQLite: an FTS5 table with the trigram tokenizer (needs SQLite ≥ 3.34).
PostgreSQL: the pg_trgm extension and a table with a GIN trigram index.
Links saved before it are indexed by `manage.py search_reindex`.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS snapshots_link_search "
    "USING fts5(document, tokenize='trigram')",
]
POSTGRES_FORWARD = [
    "CREATE TABLE IF NOT EXISTS snapshots_link_search ("
    " link_id bigint PRIMARY KEY,"
    " document text NOT NULL)",
    "CREATE INDEX IF NOT EXISTS snapshots_link_search_document_trgm "
    "ON snapshots_link_search USING gin (document gin_trgm_ops)",
]
BACKWARD = ["DROP TABLE IF EXISTS snapshots_link_search"]


def create_index(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "sqlite":
        import sqlite3

        if sqlite3.sqlite_version_info < (3, 34, 0):
            raise RuntimeError(
                f"kb's search needs SQLite 3.34 or newer (trigram tokenizer); "
                f"this Python has {sqlite3.sqlite_version}."
            )
        statements = SQLITE_FORWARD
    elif connection.vendor == "postgresql":
        statements = POSTGRES_FORWARD
    else:
        raise RuntimeError(f"kb's search supports SQLite and PostgreSQL, not {connection.vendor}.")
    for statement in statements:
        schema_editor.execute(statement)


def drop_index(apps, schema_editor):
    for statement in BACKWARD:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0001_initial"),
    ]

    operations = [
        # Only acts on PostgreSQL; a no-op elsewhere.
        TrigramExtension(),
        migrations.RunPython(create_index, drop_index),
    ]
