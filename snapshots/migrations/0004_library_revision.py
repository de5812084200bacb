"""A one-row table holding the library's revision token (see snapshots/revision.py).

Every change to links, tags or their visibility writes a new token in the same transaction, so
cached read-side results keyed by the token (tag counts) are never served for another state.
"""

from django.db import migrations

FORWARD = [
    "CREATE TABLE IF NOT EXISTS snapshots_library_revision ("
    " id integer PRIMARY KEY, token varchar(32) NOT NULL)",
    "INSERT INTO snapshots_library_revision (id, token) VALUES (1, 'initial')",
]
BACKWARD = ["DROP TABLE IF EXISTS snapshots_library_revision"]


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0003_link_search_short_chinese_terms"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
