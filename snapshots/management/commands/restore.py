"""manage.py restore FILE [--merge] [--user USERNAME] [--no-capture] — a backup back into a library."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from snapshots.management.commands._library_user import resolve_user
from snapshots.services.bundle_import import BundleError, restore_bundle


class Command(BaseCommand):
    help = (
        "Restore a zip written by manage.py backup (or the export page's zip) into a user's "
        "library, with every snapshot and stored archive. All or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The zip that manage.py backup or the export page wrote.")
        parser.add_argument(
            "--user", help="Whose library (needed when there are several accounts)."
        )
        parser.add_argument(
            "--merge",
            action="store_true",
            help="Add to a library that has links (default: it must be empty). Links already "
            "saved keep their fields and get the backup's tags and missing snapshots.",
        )
        parser.add_argument(
            "--no-capture",
            action="store_true",
            help="Queue no captures (snapshots still queued in the backup are left out).",
        )

    def handle(self, *args, file: str, user: str | None, merge: bool, **options):
        owner = resolve_user(user)
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")

        def say(step: str) -> None:
            if options["verbosity"] >= 1:
                self.stderr.write(f"{step}…")

        try:
            result = restore_bundle(
                owner=owner,
                source=str(path),
                merge=merge,
                capture=not options["no_capture"],
                progress=say,
            )
        except BundleError as exc:
            raise CommandError(f"{file}: {exc.message}") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {result.created} links for {owner.get_username()} "
                f"({result.existing} were already saved) with {result.snapshots} snapshots and "
                f"{result.blobs} stored blobs ({result.blobs_written} written); "
                f"{result.captures_queued} captures queued."
            )
        )
