"""`manage.py recapture`: capture chosen links again (queued, or now with --now)."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from snapshots.management.commands._capturing import (
    add_engine_argument,
    capture_links,
    resolve_user,
)
from snapshots.models import Link, Snapshot
from snapshots.tasks import recover_captures


class Command(BaseCommand):
    help = (
        "Capture links again: those with a tag, whose last capture failed, or whose last capture "
        "is older than some days (filters combine). --stuck takes up captures a stopped worker left "
        "running. Captures are queued for the worker unless --now runs them here."
    )

    def add_arguments(self, parser):
        add_engine_argument(parser)
        parser.add_argument(
            "--tag",
            action="append",
            default=[],
            help="links with this tag (repeatable: any of them)",
        )
        parser.add_argument(
            "--failed", action="store_true", help="links whose latest capture failed"
        )
        parser.add_argument(
            "--older-than",
            type=float,
            metavar="DAYS",
            help="links last captured more than DAYS ago (or never)",
        )
        parser.add_argument(
            "--all", action="store_true", help="every link (of --user, or of everyone)"
        )
        parser.add_argument(
            "--stuck",
            action="store_true",
            help="queue again (or fail) captures left running by a stopped worker, and pending "
            "captures whose job the queue lost",
        )
        parser.add_argument("--user", help="only this user's links")
        parser.add_argument(
            "--now",
            action="store_true",
            help="capture here, one after another, instead of queueing",
        )

    def handle(self, *args, engine, tag, failed, older_than, all, stuck, user, now, **options):
        if stuck:
            result = recover_captures()
            self.stdout.write(
                f"stuck captures: {len(result.requeued)} queued again, {len(result.failed)} given up"
            )
        if not (tag or failed or older_than is not None or all):
            if stuck:
                return
            raise CommandError("Choose links with --tag, --failed, --older-than DAYS or --all.")

        links = Link.objects.select_related("latest_snapshot").order_by("pk")
        if user:
            links = links.filter(owner=resolve_user(user))
        if tag:
            links = links.filter(tags__name__in=tag).distinct()
        if failed:
            links = links.filter(latest_snapshot__status=Snapshot.Status.FAILED)
        if older_than is not None:
            cutoff = timezone.now() - timedelta(days=older_than)
            links = links.filter(
                Q(latest_snapshot__isnull=True)
                | Q(latest_snapshot__finished__lt=cutoff)
                | Q(latest_snapshot__finished__isnull=True, latest_snapshot__requested__lt=cutoff)
            )
        chosen = list(links)
        if not chosen:
            self.stdout.write("No link matches.")
            return
        succeeded, failures = capture_links(self, chosen, total=len(chosen), now=now, engine=engine)
        if now:
            self.stdout.write(f"{succeeded} captured, {failures} failed.")
        else:
            self.stdout.write(f"{len(chosen)} captures queued.")
