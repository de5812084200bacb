"""`manage.py scrub`: check that every captured snapshot's archive is whole; re-capture the broken."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from snapshots.models import Link, Snapshot
from snapshots.services.archives import blobs_collect, snapshots_scrub
from snapshots.tasks import snapshot_request


class Command(BaseCommand):
    help = (
        "Check every succeeded snapshot's stored archive and assets (in the data folder or the "
        "bucket) and list the snapshots with bytes missing. --requeue captures their links again; "
        "--collect deletes stored blobs no snapshot uses. Exits 1 when broken snapshots are left."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--verify",
            action="store_true",
            help="read every stored blob back and check its size and SHA-256 (slow)",
        )
        parser.add_argument(
            "--requeue",
            action="store_true",
            help="queue a new capture of each link whose snapshot is broken",
        )
        parser.add_argument(
            "--collect",
            action="store_true",
            help="also delete stored blobs that no snapshot uses",
        )

    def handle(self, *args, verify, requeue, collect, **options):
        if collect:
            freed = blobs_collect()
            self.stdout.write(f"unused blobs deleted: {len(freed)}")
        report = snapshots_scrub(verify=verify)
        for broken in report.broken:
            what = "archive and " if broken.archive_missing else ""
            self.stdout.write(
                f"broken: snapshot {broken.snapshot_id} of {broken.url} — "
                f"{what}{len(broken.missing)} stored file(s) missing"
            )
        self.stdout.write(
            f"checked {report.snapshots} snapshots, {report.blobs} stored blobs: "
            f"{len(report.broken)} broken, {report.unused_blobs} unused blobs"
        )
        if not report.broken:
            return
        if not requeue:
            raise CommandError(
                f"{len(report.broken)} snapshots have stored files missing; "
                "run scrub --requeue to capture their links again"
            )
        queued = 0
        for link in Link.objects.filter(pk__in={b.link_id for b in report.broken}):
            if link.snapshots.filter(
                status__in=(Snapshot.Status.PENDING, Snapshot.Status.RUNNING)
            ).exists():
                continue  # a capture is already on its way
            snapshot_request(link=link, priority=Snapshot.Priority.BULK)
            queued += 1
        self.stdout.write(f"captures queued again: {queued}")
