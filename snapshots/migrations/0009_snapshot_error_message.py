"""Snapshot.error_message: the failure sentence's template and values, so the pages can show it in
the reader's language. Existing snapshots get {} and keep showing their English ``error``.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0008_snapshot_icon"),
    ]

    operations = [
        migrations.AddField(
            model_name="snapshot",
            name="error_message",
            field=models.JSONField(blank=True, default=dict, verbose_name="error message"),
        ),
    ]
