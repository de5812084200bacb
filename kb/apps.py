"""The site app: worker processes write the heartbeats the health check (kb.health) reads."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KbConfig(AppConfig):
    name = "kb"
    verbose_name = _("Site")

    def ready(self) -> None:
        from kb import heartbeat

        # Only in a worker process (db_worker, rqworker): beat from a daemon thread while it lives.
        heartbeat.start_for_worker()
