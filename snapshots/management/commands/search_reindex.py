"""manage.py search_reindex — rebuild the library's full-text index (after a bulk load or restore)."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from snapshots import search
from snapshots.models import Link


class Command(BaseCommand):
    help = "Rebuild the search index of every link (title, URL, notes, tags, captured text)."

    def handle(self, *args, **options):
        with tqdm(
            total=Link.objects.count(),
            unit="link",
            desc="Indexing",
            disable=options["verbosity"] < 1,
        ) as bar:
            total = search.reindex_all(progress=bar.update)
        self.stdout.write(self.style.SUCCESS(f"Indexed {total} links."))
