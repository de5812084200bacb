"""The library app: its revision signals, and the stuck-capture watch of worker processes."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SnapshotsConfig(AppConfig):
    name = "snapshots"
    verbose_name = _("Library")

    def ready(self) -> None:
        from snapshots import revision, tasks

        # Here, not on import of some module: a shell or a command changes links too, and the
        # web processes must see a new revision token for it.
        revision.connect_signals()
        # Only in a worker process (db_worker, rqworker): take up captures a dead worker left.
        tasks.start_stuck_capture_watch()
