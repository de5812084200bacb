"""manage.py backup FILE [--user USERNAME] — a user's whole library in one zip (see services.bundle)."""

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from snapshots.management.commands._library_user import resolve_user
from snapshots.models import Link
from snapshots.services.bundle import write_bundle


class Command(BaseCommand):
    help = (
        "Write a user's whole library to a zip: links, tags, notes, dates, read state and every "
        "snapshot with its stored archive and blobs. manage.py restore FILE reads it back."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The zip to write (replaced if it exists).")
        parser.add_argument(
            "--user", help="Whose library (needed when there are several accounts)."
        )
        parser.add_argument(
            "--with-pages",
            action="store_true",
            help="Also write each link's latest archived page as one HTML file (readable without kb).",
        )

    def handle(self, *args, file: str, user: str | None, with_pages: bool, **options):
        owner = resolve_user(user)
        links = Link.objects.filter(owner=owner)
        target = Path(file)
        if target.is_dir():
            raise CommandError(f"{file} is a folder: name the zip to write.")
        folder = target.parent if str(target.parent) else Path(".")
        if not folder.is_dir():
            raise CommandError(f"{folder}: no such folder.")
        # Written beside the target and renamed when complete: a cut-short run leaves no
        # half-written backup under the name.
        handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
        try:
            with (
                os.fdopen(handle, "wb") as stream,
                tqdm(
                    total=links.count(),
                    unit="link",
                    desc="Backup",
                    disable=options["verbosity"] < 1,
                ) as bar,
            ):
                written = write_bundle(
                    links=links,
                    stream=stream,
                    owner_name=owner.get_username(),
                    pages=with_pages,
                    progress=bar.update,
                )
            os.chmod(partial, 0o600)
            os.replace(partial, target)
        except OSError as exc:
            Path(partial).unlink(missing_ok=True)
            raise CommandError(f"Could not write {file}: {exc.strerror or exc}.") from exc
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        for sha in written.missing:
            self.stderr.write(
                f"stored blob {sha} could not be read; its snapshots are restored as failed."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Backed up {written.links} links of {owner.get_username()} with "
                f"{written.snapshots} snapshots and {written.blobs} stored blobs "
                f"({written.blob_bytes / 2**20:.1f} MB) to {target}."
            )
        )
