"""Snapshot.icon_sha256: the page icon the capture inlined, shown in the library instead of the
letter avatar. Existing snapshots get "" (the letter avatar) until their link is captured again.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0007_search_documents_casefolded"),
    ]

    operations = [
        migrations.AddField(
            model_name="snapshot",
            name="icon_sha256",
            field=models.CharField(blank=True, max_length=64, verbose_name="icon"),
        ),
    ]
