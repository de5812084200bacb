"""manage.py import_bookmarks FILE [--user NAME] [--public] — a Netscape bookmark file into the library,
or a kb library zip (the export page's) merged into it with its archives and history."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from snapshots.management.commands._library_user import resolve_user
from snapshots.normalize import LinkError
from snapshots.services.bundle_import import Limits, import_library_zip, is_zip
from snapshots.services.importer import MAX_IMPORT_BYTES, import_bookmarks, parse_bookmarks


class Command(BaseCommand):
    help = (
        "Import a bookmarks file (the HTML that browsers, linkding, Pocket and Karakeep export), "
        "or the zip kb's export page makes (merged with its archives and history, as restore "
        "--merge does). All or nothing; captures are queued for the worker."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The bookmarks .html file, or a kb library .zip.")
        parser.add_argument(
            "--user", help="Whose library (needed when there are several accounts)."
        )
        parser.add_argument(
            "--public",
            action="store_true",
            help="Make links public unless the file says PRIVATE=1 (default: private).",
        )
        parser.add_argument(
            "--no-folder-tags", action="store_true", help="Do not turn folder names into tags."
        )
        parser.add_argument("--no-capture", action="store_true", help="Do not queue captures.")

    def handle(self, *args, file: str, user: str | None, public: bool, **options):
        owner = resolve_user(user)
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        with path.open("rb") as handle:
            zipped = is_zip(handle.read(4))
        if zipped:
            try:
                result = import_library_zip(
                    owner=owner,
                    source=str(path),
                    private_default=not public,
                    capture=not options["no_capture"],
                    limits=Limits(),
                )
            except LinkError as exc:
                raise CommandError(f"{file}: {exc.message}") from exc
            self.stdout.write(
                self.style.SUCCESS(
                    f"Imported {result.created} new links for {owner.get_username()}; "
                    f"{result.existing} were already saved, "
                    f"{getattr(result, 'snapshots', 0)} captures restored with their archives."
                )
            )
            return
        if path.stat().st_size > MAX_IMPORT_BYTES:
            raise CommandError(f"{file}: too large (at most {MAX_IMPORT_BYTES // 2**20} MB).")
        data = path.read_bytes()
        try:
            total = len(parse_bookmarks(data))
            with tqdm(
                total=total, unit="link", desc="Importing", disable=options["verbosity"] < 1
            ) as bar:
                result = import_bookmarks(
                    owner=owner,
                    data=data,
                    private_default=not public,
                    folders_as_tags=not options["no_folder_tags"],
                    capture=not options["no_capture"],
                    progress=bar.update,
                )
                bar.update(max(0, total - bar.n))
        except LinkError as exc:
            raise CommandError(f"{file}: {exc.message} Nothing was imported.") from exc
        for error in result.errors:
            self.stderr.write(f"skipped: {error}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.created} new links for {owner.get_username()}; "
                f"{result.existing} were already saved, {result.skipped} skipped."
            )
        )
