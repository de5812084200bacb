"""Stored URLs lose their "user:password@": it was sent as Basic auth and shown on public pages,
feeds and exports. New links drop it in snapshots.normalize.normalize_url.

A link whose URL without credentials is already saved by the same person keeps its own row (its
snapshots and tags); its dedupe key gets the suffix "#kb-credentials-<id>", a fragment no
normalized URL ever has, so the two never clash and nothing is deleted.
"""

from urllib.parse import urlsplit, urlunsplit

from django.db import migrations


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def strip_credentials(apps, schema_editor):
    Link = apps.get_model("snapshots", "Link")
    Snapshot = apps.get_model("snapshots", "Snapshot")
    for link in Link.objects.filter(url__contains="@").only("pk", "owner_id", "url", "normalized_url"):
        url = _without_credentials(link.url)
        if url == link.url:
            continue
        key = _without_credentials(link.normalized_url)
        if Link.objects.filter(owner_id=link.owner_id, normalized_url=key).exclude(pk=link.pk).exists():
            key = f"{key}#kb-credentials-{link.pk}"
        Link.objects.filter(pk=link.pk).update(url=url, normalized_url=key)
    for snapshot in Snapshot.objects.filter(final_url__contains="@").only("pk", "final_url"):
        final_url = _without_credentials(snapshot.final_url)
        if final_url != snapshot.final_url:
            Snapshot.objects.filter(pk=snapshot.pk).update(final_url=final_url)


class Migration(migrations.Migration):
    dependencies = [("snapshots", "0010_tag_empty_slugs")]

    operations = [migrations.RunPython(strip_credentials, migrations.RunPython.noop)]
