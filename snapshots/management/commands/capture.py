"""`manage.py capture URL [URL...]`: save links and capture them now, with a progress bar."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from snapshots.management.commands._capturing import (
    add_engine_argument,
    capture_links,
    resolve_user,
)
from snapshots.normalize import LinkError
from snapshots.services.links import link_create


class Command(BaseCommand):
    help = (
        "Save each URL as a link (private, in the library of --user or the first administrator) "
        "and capture it now, printing each result. Saving a URL already saved captures it again."
    )

    def add_arguments(self, parser):
        add_engine_argument(parser)
        parser.add_argument("urls", nargs="+", metavar="URL")
        parser.add_argument("--user", help="whose library (default: the first administrator)")
        parser.add_argument("--tag", action="append", default=[], help="tag the links (repeatable)")
        parser.add_argument("--public", action="store_true", help="make new links public")

    def handle(self, *args, engine, urls, user, tag, public, **options):
        owner = resolve_user(user)
        links = []
        for url in urls:
            try:
                link, _created = link_create(
                    owner=owner, url=url, tags=tag, private=not public, capture=False
                )
            except LinkError as error:
                self.stderr.write(self.style.ERROR(f"skipped {url}: {error}"))
                continue
            links.append(link)
        succeeded, failed = capture_links(self, links, total=len(links), now=True, engine=engine)
        skipped = len(urls) - len(links)
        if failed or skipped:
            raise CommandError(
                f"{succeeded} captured, {failed} failed, {skipped} not valid web addresses."
            )
