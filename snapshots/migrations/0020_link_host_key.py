"""Links keep their domain's labels reversed (normalize.host_key), indexed, for the search's site:."""

from django.db import migrations, models

BATCH = 2000


def host_key(host: str) -> str:
    # normalize.host_key as of this migration (a migration keeps its own copy)
    labels = [label for label in host.casefold().split(".") if label]
    return "".join(f"{label}." for label in reversed(labels))


def fill_host_keys(apps, schema_editor):
    """Every existing link gets its key, a batch at a time (100,000 links: a few seconds)."""
    Link = apps.get_model("snapshots", "Link")
    links = Link.objects.using(schema_editor.connection.alias)
    last = 0
    while True:
        batch = list(links.filter(pk__gt=last).order_by("pk").only("pk", "domain")[:BATCH])
        if not batch:
            return
        for link in batch:
            link.host_key = host_key(link.domain)
        links.bulk_update(batch, ["host_key"])
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0019_snapshot_priority"),
    ]

    operations = [
        migrations.AddField(
            model_name="link",
            name="host_key",
            field=models.CharField(
                blank=True, editable=False, max_length=256, verbose_name="host key"
            ),
        ),
        migrations.RunPython(fill_host_keys, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="link",
            index=models.Index(
                fields=["host_key"], name="link_host_key", opclasses=["varchar_pattern_ops"]
            ),
        ),
    ]
