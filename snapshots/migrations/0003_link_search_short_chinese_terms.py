"""An index for one- and two-character Chinese (CJK) query terms, which trigrams cannot serve.

Each link's document is also stored as the set of its CJK unigrams and bigrams (see
snapshots/search.py: cjk_grams): SQLite keeps them in an FTS5 table (unicode61 tokens, no
positions), PostgreSQL in a text[] column with a GIN index. Run `manage.py search_reindex` to fill
it for links saved before this migration.
"""

from django.db import migrations

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS snapshots_link_search_grams "
    "USING fts5(grams, tokenize='unicode61', detail='none')",
]
SQLITE_BACKWARD = ["DROP TABLE IF EXISTS snapshots_link_search_grams"]
POSTGRES_FORWARD = [
    "ALTER TABLE snapshots_link_search ADD COLUMN IF NOT EXISTS grams text[] NOT NULL DEFAULT '{}'",
    "CREATE INDEX IF NOT EXISTS snapshots_link_search_grams_gin "
    "ON snapshots_link_search USING gin (grams)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS snapshots_link_search_grams_gin",
    "ALTER TABLE snapshots_link_search DROP COLUMN IF EXISTS grams",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}.get(vendor, [])
    for statement in statements:
        schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}.get(vendor, [])
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0002_link_search_index"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
