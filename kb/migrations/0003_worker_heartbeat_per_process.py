"""The worker heartbeat becomes one row per worker process (kb.heartbeat), beating on a clock.

The old single row said when some worker last started or finished a task, which tells nothing
about whether one is alive now: it is deleted, not carried over. Workers write their rows again
within seconds of starting on the new code.
"""

from django.db import migrations, models


def forget_old_heartbeat(apps, schema_editor):
    apps.get_model("kb", "WorkerHeartbeat").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("kb", "0002_api_tokens_hashed"),
    ]

    operations = [
        migrations.RunPython(forget_old_heartbeat, migrations.RunPython.noop),
        migrations.RemoveField(model_name="workerheartbeat", name="last_seen"),
        migrations.AddField(
            model_name="workerheartbeat",
            name="hostname",
            field=models.CharField(default="", max_length=255, verbose_name="host name"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="workerheartbeat",
            name="pid",
            field=models.PositiveIntegerField(default=0, verbose_name="process id"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="workerheartbeat",
            name="queue",
            field=models.CharField(blank=True, max_length=255, verbose_name="queue"),
        ),
        migrations.AddField(
            model_name="workerheartbeat",
            name="started_at",
            field=models.DateTimeField(default="2000-01-01T00:00:00Z", verbose_name="started"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="workerheartbeat",
            name="beat_at",
            field=models.DateTimeField(db_index=True, default="2000-01-01T00:00:00Z", verbose_name="last heartbeat"),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name="workerheartbeat",
            constraint=models.UniqueConstraint(
                fields=("hostname", "pid"), name="worker_heartbeat_process"
            ),
        ),
    ]
