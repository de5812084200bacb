"""API tokens stored as their SHA-256; a user may hold several.

Keys issued before keep working: each stored key is replaced by its hash, which is what a request's
key is compared with from now on.
"""

import hashlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def hash_stored_keys(apps, schema_editor):
    ApiToken = apps.get_model("kb", "ApiToken")
    for token in ApiToken.objects.all():
        token.key_hash = hashlib.sha256(token.key.encode("utf-8")).hexdigest()
        token.prefix = token.key[:6]
        token.name = "manage.py api_token"
        token.save(update_fields=["key_hash", "prefix", "name"])


class Migration(migrations.Migration):
    dependencies = [
        ("kb", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="name",
            field=models.CharField(blank=True, max_length=100, verbose_name="name"),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="prefix",
            field=models.CharField(
                default="", editable=False, max_length=8, verbose_name="begins with"
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="apitoken",
            name="key_hash",
            field=models.CharField(editable=False, max_length=64, null=True, verbose_name="key hash"),
        ),
        migrations.RunPython(hash_stored_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apitoken",
            name="key_hash",
            field=models.CharField(
                editable=False, max_length=64, unique=True, verbose_name="key hash"
            ),
        ),
        migrations.RemoveField(model_name="apitoken", name="key"),
        migrations.AlterField(
            model_name="apitoken",
            name="user",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="api_tokens",
                to=settings.AUTH_USER_MODEL,
                verbose_name="user",
            ),
        ),
    ]
