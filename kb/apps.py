"""The site app: worker processes write the heartbeats the health check (kb.health) reads, and the
configuration checks (kb.checks) are registered."""

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class KbConfig(AppConfig):
    name = "kb"
    verbose_name = _("Site")

    def ready(self) -> None:
        from kb import heartbeat
        from kb.checks import storage_configuration

        checks.register(storage_configuration)
        # Only in a worker process (db_worker, rqworker): beat from a daemon thread while it lives.
        heartbeat.start_for_worker()
