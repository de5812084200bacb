"""Full-text search and library filters: same results on SQLite (FTS5 trigram) and PostgreSQL (pg_trgm)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from snapshots.models import Snapshot
from snapshots.queries import LibraryFilters, library_links, link_excerpts, links_for_concept
from snapshots.search import reindex_all, reindex_link
from snapshots.services.links import link_create, link_update
from snapshots.services.tags import tag_rename

pytestmark = pytest.mark.django_db

CHINESE_TEXT = (
    "在机器学习中交叉熵是衡量两个概率分布之间差异的常用损失函数它与信息论中的熵和相对熵密切相关"
)


@pytest.fixture(autouse=True)
def captures_queued_not_run(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def captured(link, text, title="", when=None):
    """What the capture task leaves behind: a succeeded snapshot, then the index updated."""
    snapshot = Snapshot.objects.create(
        link=link,
        status=Snapshot.Status.SUCCEEDED,
        title=title,
        text=text,
        finished=when or timezone.now(),
    )
    link.latest_snapshot = snapshot
    link.save(update_fields=["latest_snapshot"])
    reindex_link(link.pk)
    return snapshot


def found(user, **filters):
    return [link.url for link in library_links(user, LibraryFilters(**filters))]


@pytest.fixture
def library(user):
    """Four links with snapshot text in English and Chinese, tagged."""
    english, _ = link_create(
        owner=user,
        url="https://en.example/entropy",
        title="Understanding Entropy",
        tags=["ml", "information-theory"],
    )
    captured(english, "Cross-entropy loss compares two distributions. The 100% sure case.")
    chinese, _ = link_create(owner=user, url="https://zh.example/ce", tags=["ml", "中文"])
    captured(chinese, CHINESE_TEXT, title="交叉熵损失")
    notes, _ = link_create(
        owner=user,
        url="https://notes.example/kl",
        notes="Remember: KL divergence is not symmetric",
        tags=["information-theory"],
        private=False,
    )
    plain, _ = link_create(owner=user, url="https://plain.example/", title="Cooking pasta")
    return {"english": english, "chinese": chinese, "notes": notes, "plain": plain}


def test_english_word_in_snapshot_text_is_found_case_insensitively(user, library):
    assert found(user, q="DISTRIBUTIONS") == ["https://en.example/entropy"]


def test_chinese_word_is_found_inside_unspaced_chinese_text(user, library):
    assert found(user, q="交叉熵") == ["https://zh.example/ce"]
    assert found(user, q="概率分布之间") == ["https://zh.example/ce"]


def test_one_and_two_character_chinese_queries_fall_back_to_substring_scan(user, library):
    assert found(user, q="熵") == ["https://zh.example/ce"]
    assert found(user, q="损失") == ["https://zh.example/ce"]
    assert found(user, q="熵 损失") == ["https://zh.example/ce"]


def test_short_chinese_terms_match_only_adjacent_characters(user):
    link, _ = link_create(owner=user, url="https://split.example/", capture=False)
    captured(link, "损x失 and 熵。增 かな 한국어")
    assert found(user, q="损失") == []  # not adjacent in the text
    assert found(user, q="熵增") == []  # punctuation between them
    assert found(user, q="损") == ["https://split.example/"]
    assert found(user, q="かな") == ["https://split.example/"]
    assert found(user, q="국어") == ["https://split.example/"]


def test_latin_words_are_matched_whole(user, library):
    assert found(user, q="KL") == ["https://notes.example/kl"]
    assert found(user, q="kl") == ["https://notes.example/kl"]
    assert found(user, q="ta") == []  # inside "pasta" and "understanding": not a word there
    assert found(user, q="entrop") == []
    # "cross-entropy" is the words "cross" and "entropy"
    assert found(user, q="cross") == ["https://en.example/entropy"]


def test_cjk_grams_are_the_characters_and_adjacent_pairs():
    from snapshots.search import cjk_grams, is_cjk

    assert cjk_grams("交叉熵, ok 熵") == ["交", "交叉", "叉", "叉熵", "熵"]
    assert is_cjk("熵")
    assert is_cjk("かな")
    assert not is_cjk("熵x")
    assert not is_cjk("。")


def test_every_term_must_match(user, library):
    assert found(user, q="entropy distributions") == ["https://en.example/entropy"]
    assert found(user, q="entropy pasta") == []


def test_title_url_notes_and_tags_are_searched(user, library):
    assert found(user, q="understanding") == ["https://en.example/entropy"]
    assert found(user, q="notes.example") == ["https://notes.example/kl"]
    assert found(user, q="symmetric") == ["https://notes.example/kl"]
    assert sorted(found(user, q="information-theory")) == [
        "https://en.example/entropy",
        "https://notes.example/kl",
    ]
    assert found(user, q="中文") == ["https://zh.example/ce"]


def test_like_wildcards_and_fts_syntax_in_a_query_are_plain_text(user, library):
    assert found(user, q="100%") == ["https://en.example/entropy"]
    assert found(user, q="1_0") == []
    assert found(user, q="%") == ["https://en.example/entropy"]
    for query in ['"', "AND", "NEAR(a b)", "*", "entropy OR pasta", "a:b", "'", "\\"]:
        list(library_links(user, LibraryFilters(q=query)))  # no error


def test_index_follows_edits_tags_and_deletes(user, library):
    link_update(link=library["plain"], notes="now about gradient descent")
    assert found(user, q="gradient") == ["https://plain.example/"]
    tag_rename(owner=user, old="中文", new="chinese")
    assert found(user, q="chinese") == ["https://zh.example/ce"]
    from snapshots.services.links import link_delete

    link_delete(link=library["plain"])
    assert found(user, q="gradient") == []


def test_only_the_latest_succeeded_snapshot_counts(user, library):
    link = library["plain"]
    captured(link, "old words: lasagne", when=timezone.now() - timedelta(days=2))
    captured(link, "new words: risotto")
    assert found(user, q="risotto") == ["https://plain.example/"]
    assert found(user, q="lasagne") == []


def test_reindex_all_rebuilds_the_same_results(user, library):
    assert reindex_all() == 4
    assert found(user, q="交叉熵") == ["https://zh.example/ce"]
    assert found(user, q="symmetric") == ["https://notes.example/kl"]


def test_search_respects_visibility(user, other_user, library):
    assert found(other_user, q="symmetric") == ["https://notes.example/kl"]
    assert found(other_user, q="交叉熵") == []
    assert found(None, q="entropy") == []


def test_several_tags_must_all_match(user, library):
    assert found(user, tags=["ml", "information-theory"]) == ["https://en.example/entropy"]
    assert found(user, tags=["ML"]) == ["https://zh.example/ce", "https://en.example/entropy"]
    assert found(user, tags=["ml", "nope"]) == []


def test_filters_combine(user, library):
    assert found(user, q="entropy", tags=["ml"], domain="en.example") == [
        "https://en.example/entropy"
    ]
    assert found(user, q="entropy", domain="zh.example") == []
    assert found(user, visibility="public") == ["https://notes.example/kl"]
    assert found(user, visibility="private", tags=["information-theory"]) == [
        "https://en.example/entropy"
    ]
    assert sorted(found(user, state="succeeded")) == [
        "https://en.example/entropy",
        "https://zh.example/ce",
    ]
    assert sorted(found(user, state="pending")) == [
        "https://notes.example/kl",
        "https://plain.example/",
    ]
    link_update(link=library["plain"], unread=False)
    assert found(user, unread=False) == ["https://plain.example/"]
    assert "https://plain.example/" not in found(user, unread=True)


def test_state_none_means_never_captured(user):
    link_create(owner=user, url="https://never.example/", capture=False)
    link_create(owner=user, url="https://queued.example/")
    assert found(user, state="none") == ["https://never.example/"]


def test_sort_orders(user, library):
    assert found(user, sort="title") == [
        "https://plain.example/",
        "https://notes.example/kl",
        "https://en.example/entropy",
        "https://zh.example/ce",
    ]
    assert found(user, sort="-created")[0] == "https://plain.example/"
    assert found(user, sort="created")[0] == "https://en.example/entropy"
    assert found(user, sort="domain")[0] == "https://en.example/entropy"


def test_filters_from_a_query_string_ignore_bad_values():
    from django.http import QueryDict

    filters = LibraryFilters.from_query(
        QueryDict(
            "q=+熵+&tag=a&tag=B&tags=c,d&state=bogus&sort=evil&page=-4&unread=1&domain=WWW.X.org"
        )
    )
    assert filters.q == "熵"
    assert filters.tags == ["a", "B", "c", "d"]
    assert (filters.state, filters.sort, filters.page) == ("", "-created", 1)
    assert filters.unread is True
    assert filters.domain == "x.org"


def test_excerpts_mark_the_match_and_escape_everything_else(user, library):
    link, _ = link_create(
        owner=user,
        url="https://xss.example/",
        notes="<script>alert(1)</script> talks about entropy & more",
    )
    excerpts = link_excerpts([link, library["chinese"], library["plain"]], "entropy 熵")
    assert excerpts[link.pk] == (
        "&lt;script&gt;alert(1)&lt;/script&gt; talks about <mark>entropy</mark> &amp; more"
    )
    assert "交叉<mark>熵</mark>" in excerpts[library["chinese"].pk]
    assert library["plain"].pk not in excerpts


def test_long_text_excerpt_is_a_window_around_the_match(user):
    link, _ = link_create(owner=user, url="https://long.example/")
    captured(link, "word " * 300 + "needle " + "word " * 300)
    excerpt = link_excerpts([link], "needle")[link.pk]
    assert "<mark>needle</mark>" in excerpt
    assert excerpt.startswith("…")
    assert excerpt.endswith("…")
    assert len(excerpt) < 300


def test_links_for_concept_returns_visible_links_with_any_tag(user, other_user, library):
    concept = links_for_concept(other_user, ["information-theory", "熵"])
    assert [link.url for link in concept] == ["https://notes.example/kl"]
    mine = links_for_concept(user, ["INFORMATION-THEORY", "中文"])
    assert sorted(link.url for link in mine) == [
        "https://en.example/entropy",
        "https://notes.example/kl",
        "https://zh.example/ce",
    ]


def test_reindex_all_rebuilds_the_postgres_indexes(user, library):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's FTS5 tables carry their own index")
    reindex_all()
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'snapshots_link_search'")
        names = {row[0] for row in cursor.fetchall()}
    assert {"snapshots_link_search_document_trgm", "snapshots_link_search_grams_tsv"} <= names


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("ωμέγα", "Greek, three or more letters: the trigram index"),
        ("ΩΜΈΓΑ", "Greek capitals: a whole word in the word index"),
        ('"ωμέγα straße"', "a phrase: the words next to each other"),
        ("strasse", "ß folds to ss"),
        ("ÜBER", "accented capitals"),
    ],
)
def test_search_ignores_case_in_every_script_on_both_databases(user, query, why):
    link, _ = link_create(owner=user, url="https://scripts.example/", title="ΩΜΈΓΑ Straße über")
    captured(link, "Text.")

    assert found(user, q=query) == ["https://scripts.example/"], why


def test_the_excerpt_keeps_the_pages_own_letters(user):
    link, _ = link_create(owner=user, url="https://case.example/")
    captured(link, "Shannon defined ENTROPY in 1948; Straße is a street.")

    excerpts = link_excerpts([link], "entropy strasse")

    assert "<mark>ENTROPY</mark>" in excerpts[link.pk]
    assert "Straße" in excerpts[link.pk]


def test_migration_0007_folds_documents_indexed_before_it(user):
    import importlib
    from types import SimpleNamespace

    from django.db import connection

    from snapshots import search

    link, _ = link_create(owner=user, url="https://old.example/", title="Old")
    key = "rowid" if connection.vendor == "sqlite" else "link_id"
    with connection.cursor() as cursor:  # a row as the earlier code wrote it: letters unfolded
        cursor.execute(
            f"UPDATE {search.TABLE} SET document = %s WHERE {key} = %s", ["ΩΜΈΓΑ Straße", link.pk]
        )
    migration = importlib.import_module("snapshots.migrations.0007_search_documents_casefolded")

    migration.fold_documents(None, SimpleNamespace(connection=connection))

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT document FROM {search.TABLE} WHERE {key} = %s", [link.pk])
        assert cursor.fetchone()[0] == "ωμέγα strasse"
    sql, params = search.text_ids_sql([search.Lookup("trigram", "ωμέ")])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert [row[0] for row in cursor.fetchall()] == [link.pk]
