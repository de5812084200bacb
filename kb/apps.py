"""The site app: the worker heartbeat that the health check (kb.views.healthz) reports, and the
configuration checks (kb.checks)."""

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _
from django_tasks.signals import task_finished, task_started


class KbConfig(AppConfig):
    name = "kb"
    verbose_name = _("Site")

    def ready(self) -> None:
        from kb.checks import storage_configuration
        from kb.models import WorkerHeartbeat

        checks.register(storage_configuration)

        # The health check reports when the worker last did something; any backend sends these signals.
        def beat(sender, **kwargs):
            WorkerHeartbeat.beat()

        task_started.connect(beat, dispatch_uid="kb-worker-heartbeat-started", weak=False)
        task_finished.connect(beat, dispatch_uid="kb-worker-heartbeat-finished", weak=False)
