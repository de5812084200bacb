"""A second row in snapshots_library_revision: the search index's own revision token.

Every write to the search index (snapshots.search) writes a new token in row 2, so a search's
link count can be cached under it and under the library token together, and is never stale. It
is a separate row so that captures, which rewrite search documents, do not discard the cached tag
counts kept under row 1.
"""

from django.db import migrations

FORWARD = ["INSERT INTO snapshots_library_revision (id, token) VALUES (2, 'initial')"]
BACKWARD = ["DELETE FROM snapshots_library_revision WHERE id = 2"]


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0005_library_covering_indexes"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
