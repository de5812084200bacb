"""Covering indexes for the library's filters on a large library (measured with bench/library.py).

- Tagged items by (tag, content type, object): the tag filter reads only this index instead of
  looking up one taggit row per tagged link (taggit indexes tag_id alone).
- Links by (id, owner, private): counting the links a person may see among the matches of a tag
  or a search reads only this index instead of each link's row.

Raw SQL rather than Meta.indexes: one index is on taggit's table, and neither changes Django's
model state, so `makemigrations --check` stays clean.
"""

from django.db import migrations

FORWARD = [
    "CREATE INDEX IF NOT EXISTS snapshots_taggeditem_tag_object "
    "ON taggit_taggeditem (tag_id, content_type_id, object_id)",
    "CREATE INDEX IF NOT EXISTS snapshots_link_id_visibility "
    "ON snapshots_link (id, owner_id, private)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS snapshots_taggeditem_tag_object",
    "DROP INDEX IF EXISTS snapshots_link_id_visibility",
]


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0004_library_revision"),
        ("taggit", "0006_rename_taggeditem_content_type_object_id_taggit_tagg_content_8fc721_idx"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
