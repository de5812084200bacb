"""The library app: its signals, and the stuck-capture watch of worker processes, start here."""

import sys

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

WORKER_COMMANDS = frozenset({"db_worker", "rqworker", "rqworker-pool"})


class SnapshotsConfig(AppConfig):
    name = "snapshots"
    verbose_name = _("Library")

    def ready(self) -> None:
        from snapshots import revision

        # Here, not on import of some module: a shell or a command changes links too, and the
        # web processes must see a new revision token for it.
        revision.connect_signals()
        # In a worker process (db_worker, rqworker), take up captures a dead worker left running.
        if len(sys.argv) > 1 and sys.argv[1] in WORKER_COMMANDS:
            from snapshots.tasks import start_stuck_capture_watch

            start_stuck_capture_watch()
