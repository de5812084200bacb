import sys

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

WORKER_COMMANDS = frozenset({"db_worker", "rqworker", "rqworker-pool"})


class SnapshotsConfig(AppConfig):
    name = "snapshots"
    verbose_name = _("Library")

    def ready(self) -> None:
        # In a worker process (db_worker, rqworker), take up captures a dead worker left running.
        if len(sys.argv) > 1 and sys.argv[1] in WORKER_COMMANDS:
            from snapshots.tasks import start_stuck_capture_watch

            start_stuck_capture_watch()
