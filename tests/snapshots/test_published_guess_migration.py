"""Captures made before the published-date guess ignored site-wide dates lose their
"1 January <year> (guess)" (a copyright or founding year) when kb is upgraded; stated dates stay."""

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from snapshots.models import Link, Snapshot


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_forgets_guessed_first_of_january_dates(user):
    executor = MigrationExecutor(connection)
    executor.migrate([("snapshots", "0014_link_page_title")])
    try:
        old = executor.loader.project_state([("snapshots", "0014_link_page_title")]).apps
        OldLink = old.get_model("snapshots", "Link")
        OldSnapshot = old.get_model("snapshots", "Snapshot")
        link = OldLink.objects.create(
            owner_id=user.pk, url="https://a.example/", normalized_url="https://a.example/"
        )
        dates = [
            (datetime.date(2003, 1, 1), True),  # "© 2003": the site's year, guessed
            (datetime.date(2021, 5, 4), True),  # a day guessed from the address: kept
            (datetime.date(2024, 1, 1), False),  # a New Year's article that says so: kept
        ]
        for published, guess in dates:
            OldSnapshot.objects.create(
                link=link, status="succeeded", published=published, published_is_guess=guess
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    kept = Snapshot.objects.filter(link=Link.objects.get()).order_by("pk")
    assert [(s.published, s.published_is_guess) for s in kept] == [
        (None, False),
        (datetime.date(2021, 5, 4), True),
        (datetime.date(2024, 1, 1), False),
    ]
