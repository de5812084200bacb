"""Chinese, Japanese and Korean terms of any length find exactly the pages holding them, on both
databases, and so do the pages too long and varied for PostgreSQL's grams index.

PostgreSQL answers a CJK term of up to three characters from its grams index and checks longer
ones there first; a page whose grams would not fit a tsvector keeps its single characters and a
mark, and is checked by LIKE (search.postgres_grams). These tests pin what a person sees, so
each runs again on PostgreSQL (`make pytest-postgres`).
"""

import random

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from snapshots import search
from snapshots.library_pages import library_count_and_page
from snapshots.queries import LibraryFilters
from tests.snapshots.test_search_phrases import captures_queued_not_run, found, saved

pytestmark = pytest.mark.django_db

__all__ = ["captures_queued_not_run"]  # the fixture, used here too


@pytest.fixture
def library(user):
    saved(user, "ce.test", "交叉熵损失函数 与 KL 散度")
    # every pair and triple of 交叉熵 is somewhere here, never the three in a row
    saved(user, "apart.test", "交叉验证。熵与叉熵")
    saved(user, "nll.test", "负对数似然就是交叉熵")
    # each run of three of 负对数似然, apart
    saved(user, "nll-apart.test", "负对数，对数似，数似然")
    saved(user, "japanese.test", "クロスエントロピー誤差")
    saved(user, "plain.test", "损失函数 cross validation")


def counted(user, q):
    count, rows = library_count_and_page(user, LibraryFilters(q=q), 0, 50)
    return count, len(rows)


@pytest.mark.parametrize(
    ("q", "hosts"),
    [
        ("交叉熵", ["ce.test", "nll.test"]),
        ('"交叉熵"', ["ce.test", "nll.test"]),
        ("叉熵", ["apart.test", "ce.test", "nll.test"]),
        ("交叉熵损", ["ce.test"]),
        ("负对数似然", ["nll.test"]),
        ("负对数", ["nll-apart.test", "nll.test"]),
        ("损失 -交叉熵", ["plain.test"]),
        ("熵 -交叉熵", ["apart.test"]),
        ("交叉 -负对数似然", ["apart.test", "ce.test"]),
        ("交叉熵 OR 誤差", ["ce.test", "japanese.test", "nll.test"]),
        ("エントロ", ["japanese.test"]),
        ("交叉熵 cross", []),
        ("函数 cross", ["plain.test"]),
        ("交叉熵loss", []),
    ],
)
def test_a_cjk_term_finds_exactly_the_pages_holding_it(user, library, q, hosts):
    assert found(user, q) == hosts
    assert counted(user, q) == (len(hosts), len(hosts))


def varied_page(rng: random.Random, length: int) -> str:
    """Korean syllables at random: more distinct pairs and triples than a tsvector can hold."""
    return "".join(chr(rng.randrange(0xAC00, 0xD7A4)) for _ in range(length))


@pytest.fixture
def long_page(user):
    rng = random.Random(7)
    before, after = varied_page(rng, 100_000), varied_page(rng, 100_000)
    page = f"{before} 交叉熵损失 {after}"
    saved(user, "long.test", page)
    saved(user, "short.test", "交叉熵 与 负对数似然")
    return page


def test_a_page_too_varied_for_the_grams_index_is_found_by_every_term(user, long_page):
    two, three, four = long_page[500:502], long_page[40_000:40_003], long_page[70_000:70_004]
    for q in ("交叉熵", "交叉", "熵", "交叉熵损失", "叉熵损", two, three, four, "损失 -负对数"):
        assert "long.test" in found(user, q), q
    assert found(user, "交叉熵") == ["long.test", "short.test"]
    assert counted(user, "交叉熵") == (2, 2)
    for q in ("负对数", "负对数似然", "交叉熵 -损失", "交叉 -叉熵损", f"交叉熵 -{three}", "熵失"):
        assert "long.test" not in found(user, q), q
    assert found(user, "交叉熵 -损失") == ["short.test"]


def test_the_long_page_is_searchable_in_the_api_too(user, long_page):
    client = Client()
    client.force_login(user)
    answer = client.get("/api/links", {"q": "交叉熵损失"})
    assert answer.status_code == 200
    assert [link["url"] for link in answer.json()["items"]] == ["https://long.test/"]


def test_postgresql_keeps_runs_of_three_and_marks_what_would_not_fit(user, long_page):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's trigram table answers longer terms itself")
    assert search.postgres_grams("交叉熵。熵") == ["交", "交叉", "交叉熵", "叉", "叉熵", "熵"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.url, s.grams FROM snapshots_link_search s "
            "JOIN snapshots_link l ON l.id = s.link_id ORDER BY l.url"
        )
        rows = dict(cursor.fetchall())
    long_grams = rows["https://long.test/"]
    assert search.INCOMPLETE in long_grams
    assert all(len(gram) == 1 for gram in long_grams)  # single characters, and the mark
    assert "交叉熵" in rows["https://short.test/"]


def test_the_upgrade_adds_runs_of_three_to_pages_indexed_before(user, library):
    """Migration 0023 rewrites the grams of every document already indexed (PostgreSQL)."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's grams are unchanged")
    # the links above wait for their deferred foreign-key checks, which no index may be
    # built over (PostgreSQL): run them now, as a commit would
    connection.check_constraints()
    executor = MigrationExecutor(connection)
    executor.migrate([("snapshots", "0022_link_search_word_pairs")])
    with connection.cursor() as cursor:
        # as 0022 left them: characters and pairs only
        cursor.execute(
            "UPDATE snapshots_link_search SET grams = "
            "ARRAY(SELECT g FROM unnest(grams) AS g WHERE char_length(g) <= 2)"
        )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes("snapshots"))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM snapshots_link_search "
            "WHERE array_to_tsvector(grams) @@ %s::tsquery",
            ["'交叉熵'"],
        )
        assert cursor.fetchone()[0] == 2
    assert found(user, "交叉熵") == ["ce.test", "nll.test"]
    assert found(user, "熵 -交叉熵") == ["apart.test"]


def test_a_long_page_of_varied_words_is_indexed_and_found(user):
    """A word list in Cyrillic: on PostgreSQL more distinct words and pairs than a tsvector holds,
    so its words are indexed until they fill it (search.postgres_words), not refused whole."""
    rng = random.Random(3)
    letters = [chr(code) for code in range(0x430, 0x450)]
    words = ["".join(rng.choices(letters, k=rng.randint(8, 30))) for _ in range(15_000)]
    page = " ".join(words)[:290_000]
    saved(user, "words.test", f"словарь {page}")
    saved(user, "other.test", "словарь другой")
    assert found(user, "словарь") == ["other.test", "words.test"]
    assert found(user, words[10]) == ["words.test"]
    assert found(user, f'"{words[100]} {words[101]}"') == ["words.test"]
    assert found(user, f"словарь -{words[5]}") == ["other.test"]
    assert found(user, "words.test") == ["words.test"]  # the address, as for every page


@pytest.mark.parametrize(
    ("q", "hosts"),
    [
        ("ภาษาไทย", ["thai.test"]),  # inside a sentence written without spaces
        ("เขียนติดกัน", ["thai.test"]),
        ('"ไม่เว้นวรรค"', ["thai.test"]),
        ("ภาษาลาว", []),
        ("ภาษาไทย -python", ["thai.test"]),
        ("ภาษาไทย python", []),
        ("ພາສາລາວ", ["lao.test"]),
        ("ဗမာစာ", ["burmese.test"]),
        ("ភាសាខ្មែរ", ["khmer.test"]),
    ],
)
def test_scripts_written_without_spaces_are_found_inside_their_sentences(user, q, hosts):
    """Thai, Lao, Burmese and Khmer separate sentences, not words: a word is found where it
    stands, as a Chinese one is, not only when it happens to be a whole sentence."""
    saved(user, "thai.test", "ภาษาไทยเขียนติดกันโดยไม่เว้นวรรคระหว่างคำ")
    saved(user, "lao.test", "ພາສາລາວຂຽນຕິດກັນ")
    saved(user, "burmese.test", "ဗမာစာကိုစကားလုံးများကြားတွင်")
    saved(user, "khmer.test", "ភាសាខ្មែរសរសេរជាប់គ្នា")
    assert found(user, q) == hosts
