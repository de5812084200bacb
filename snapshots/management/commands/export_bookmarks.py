"""manage.py export_bookmarks [--user NAME] [--output FILE] [--with-archives ZIP]."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from snapshots.management.commands._library_user import resolve_user
from snapshots.models import Link
from snapshots.services.bundle import export_archive_zip
from snapshots.services.exporter import iter_bookmarks


class Command(BaseCommand):
    help = (
        "Export a user's links as a Netscape bookmark file (stdout or --output), and optionally a "
        "zip of it with each link's archived page (--with-archives)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--user", help="Whose library (needed when there are several accounts)."
        )
        parser.add_argument("--output", help="Write the bookmarks file here instead of stdout.")
        parser.add_argument(
            "--with-archives",
            metavar="ZIP",
            help="Also write the library zip: bookmarks.html, archives/<id>-<slug>.html, and kb.json "
            "with every stored blob (manage.py restore and the import page read it back).",
        )

    def handle(
        self, *args, user: str | None, output: str | None, with_archives: str | None, **options
    ):
        owner = resolve_user(user)
        links = Link.objects.filter(owner=owner)
        total = links.count()
        show = options["verbosity"] >= 1 and (output is not None or with_archives is not None)
        try:
            if output is not None or with_archives is None:
                target = open(output, "w", encoding="utf-8") if output else self.stdout._out  # noqa: SIM115
                try:
                    with tqdm(total=total, unit="link", desc="Bookmarks", disable=not show) as bar:
                        for piece in iter_bookmarks(links):
                            target.write(piece)
                            if piece.lstrip().startswith("<DT>"):
                                bar.update(1)
                finally:
                    if output:
                        target.close()
            if with_archives:
                with (
                    open(with_archives, "wb") as stream,
                    tqdm(total=total, unit="link", desc="Archives", disable=not show) as bar,
                ):
                    written = export_archive_zip(
                        links=links,
                        stream=stream,
                        progress=bar.update,
                        owner_name=owner.get_username(),
                    )
                self.stderr.write(f"{written} archived pages written to {with_archives}.")
        except OSError as exc:
            raise CommandError(f"Could not write the export: {exc.strerror or exc}.") from exc
        if output:
            self.stderr.write(
                self.style.SUCCESS(
                    f"{total} links of {owner.get_username()} written to {Path(output)}."
                )
            )
