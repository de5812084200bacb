"""Phrases and negated terms mean the same on both databases, however the index answers them.

On PostgreSQL a two-word phrase is one lexeme of its words tsvector, a longer one the AND of its
adjacent pairs rechecked for order, and "损失 -熵" one tsquery over the CJK grams: these tests
pin what a person sees, so each runs again on PostgreSQL (`make pytest-postgres`).
"""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from snapshots.models import Link, Snapshot
from snapshots.queries import LibraryFilters, library_links
from snapshots.search import latin_words, reindex_link, word_pairs
from snapshots.services.links import link_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def captures_queued_not_run(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def saved(user, host, text):
    link, _ = link_create(owner=user, url=f"https://{host}/")
    snapshot = Snapshot.objects.create(
        link=link, status=Snapshot.Status.SUCCEEDED, text=text, finished=timezone.now()
    )
    link.latest_snapshot = snapshot
    link.save(update_fields=["latest_snapshot"])
    reindex_link(link.pk)
    return link


def found(user, q):
    return sorted(
        link.url.split("//")[1].rstrip("/") for link in library_links(user, LibraryFilters(q=q))
    )


@pytest.fixture
def library(user):
    saved(user, "in-order.test", "The cross entropy loss of a classifier.")
    # every adjacent pair of "cross entropy loss" is here, but never the three in a row
    saved(user, "pairs-apart.test", "Binary cross entropy. Its entropy loss term. Loss grows.")
    saved(user, "reversed.test", "loss entropy cross")
    saved(user, "repeated.test", "very very long road; Straße ÜBER alles")
    saved(user, "chinese.test", "交叉熵损失函数 cross entropy 与 KL 散度")
    saved(user, "no-entropy.test", "损失函数 cross validation")


@pytest.mark.parametrize(
    ("q", "hosts"),
    [
        ('"cross entropy"', ["chinese.test", "in-order.test", "pairs-apart.test"]),
        ('"cross entropy loss"', ["in-order.test"]),
        ('"CROSS   entropy LOSS"', ["in-order.test"]),
        ('"entropy loss"', ["in-order.test", "pairs-apart.test"]),
        ('"loss entropy cross"', ["reversed.test"]),
        ('"loss of a classifier"', ["in-order.test"]),
        ('"very very"', ["repeated.test"]),
        ('"very very long"', ["repeated.test"]),
        ('"strasse über"', ["repeated.test"]),
        ('"cross-entropy"', ["chinese.test", "in-order.test", "pairs-apart.test"]),
        (
            'cross -"entropy loss"',
            ["chinese.test", "no-entropy.test", "reversed.test"],
        ),
        ('"cross entropy" -"cross entropy loss"', ["chinese.test", "pairs-apart.test"]),
        ('"cross entropy" -binary -classifier', ["chinese.test"]),
        # words either side of a Chinese run are next to each other, as on SQLite
        ('"entropy kl"', ["chinese.test"]),
        ("损失 -熵", ["no-entropy.test"]),
        ("损失 -熵 -cross", []),
        ("损失 -散度", ["no-entropy.test"]),
        ("熵 -损失", []),
        ("交叉 -kl", []),
        ('"交叉熵" -"散度"', []),
    ],
)
def test_phrases_and_negations(user, library, q, hosts):
    assert found(user, q) == hosts


def test_word_pairs_are_the_adjacent_words():
    words = latin_words("Gradient descent, gradient DESCENT: 梯度 steps")
    assert word_pairs(words) == ["descent gradient", "descent steps", "gradient descent"]
    assert word_pairs(["one"]) == []


def test_a_phrase_late_in_a_long_page_is_found(user):
    # PostgreSQL keeps word positions and pairs for a document's first 16,383 words
    filler = " ".join(f"w{n}" for n in range(12_000))
    saved(user, "long.test", f"{filler} gradient descent at the end")

    assert found(user, '"gradient descent"') == ["long.test"]
    assert found(user, '"descent at the end"') == ["long.test"]


def test_the_upgrade_indexes_pairs_of_links_saved_before(user, library):
    """Migration 0022 rewrites the words of every document already indexed (PostgreSQL)."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's word index keeps positions and needs no pairs")
    # the links above wait for their deferred foreign-key checks, which no index may be
    # built over (PostgreSQL): run them now, as a commit would
    connection.check_constraints()
    executor = MigrationExecutor(connection)
    executor.migrate([("snapshots", "0021_link_private_owner")])
    with connection.cursor() as cursor:
        # as 0021 left them: single words only, and the grams index over the array
        cursor.execute(
            "UPDATE snapshots_link_search SET words = to_tsvector('simple', words::text)"
        )
        cursor.execute(
            "SELECT count(*) FROM snapshots_link_search WHERE words @@ %s::tsquery",
            ["'cross entropy'"],
        )
        assert cursor.fetchone()[0] == 0
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes("snapshots"))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM snapshots_link_search WHERE words @@ %s::tsquery",
            ["'cross entropy'"],
        )
        assert cursor.fetchone()[0] == 3
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'snapshots_link_search'")
        indexes = {row[0] for row in cursor.fetchall()}
    assert {"snapshots_link_search_words_gin", "snapshots_link_search_grams_tsv"} <= indexes
    assert "snapshots_link_search_grams_gin" not in indexes
    with connection.cursor() as cursor:
        # narrow rows: documents out of line, uncompressed
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'snapshots_link_search'")
        assert "toast_tuple_target=128" in cursor.fetchone()[0]
        cursor.execute(
            "SELECT attstorage FROM pg_attribute WHERE attname = 'document' "
            "AND attrelid = 'snapshots_link_search'::regclass"
        )
        assert cursor.fetchone()[0] == "e"
    assert found(user, '"cross entropy loss"') == ["in-order.test"]
    assert found(user, "损失 -熵") == ["no-entropy.test"]
    assert Link.objects.count() == 6


def test_every_link_of_a_rebuild_larger_than_a_batch_is_searchable(user, monkeypatch):
    """The index is written in batches: a rebuild of more links than one batch loses none."""
    from snapshots import search

    monkeypatch.setattr(search, "_BATCH", 2)
    for n in range(7):
        saved(user, f"batch{n}.test", f"gradient descent 损失 number{n}")
    assert search.reindex_all(batch_size=3) == 7
    assert len(found(user, '"gradient descent"')) == 7
    assert len(found(user, "损失")) == 7
    assert found(user, "number5") == ["batch5.test"]


def test_few_matches_are_handed_over_as_a_list_on_postgresql(user, library):
    from snapshots import search
    from snapshots.search_language import Text

    sql, params = search.text_ids_sql([search.lookup_for(Text("cross"))])
    ids = search.few_ids(sql, params, limit=5)
    if connection.vendor != "postgresql":
        assert ids is None  # SQLite plans FTS5 answers well as they are
        return
    assert len(ids) == 5  # every link with "cross"
    assert search.few_ids(sql, params, limit=4) is None  # more than the limit: left to the query
