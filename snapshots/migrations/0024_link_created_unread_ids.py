"""Indexes of (created, id) and (unread, id): a date or read state typed in a search is counted
from an index alone (library_pages._count_by_index), with no link row read. The plain index on
created gives way to (created, id), which also serves the library's newest-first order; it is
made before the old one goes, so the library is never without one."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0023_link_search_cjk_triples"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="link",
            index=models.Index(fields=["created", "id"], name="link_created_id"),
        ),
        migrations.AddIndex(
            model_name="link",
            index=models.Index(fields=["unread", "id"], name="link_unread_id"),
        ),
        migrations.AlterField(
            model_name="link",
            name="created",
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name="created"),
        ),
    ]
