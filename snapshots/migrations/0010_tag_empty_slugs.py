"""Tags whose slug is empty (names made only of punctuation, like "'") get the slug "tag-<id>".

Their names stay: people typed them and their links carry them, and renaming could collide with
another tag's name; only the address was broken (no page could link to an empty slug). New names
like these are refused (snapshots.normalize.check_new_tag).
"""

from django.db import migrations


def repair_empty_slugs(apps, schema_editor):
    Tag = apps.get_model("taggit", "Tag")
    for tag in Tag.objects.filter(slug=""):
        slug = f"tag-{tag.pk}"
        while Tag.objects.filter(slug=slug).exists():
            slug += "_1"
        Tag.objects.filter(pk=tag.pk).update(slug=slug)


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0009_snapshot_error_message"),
        ("taggit", "0006_rename_taggeditem_content_type_object_id_taggit_tagg_content_8fc721_idx"),
    ]

    operations = [migrations.RunPython(repair_empty_slugs, migrations.RunPython.noop)]
