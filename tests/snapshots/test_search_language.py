"""The search language's parser (snapshots/search_language.py): pure, no database."""

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from snapshots.search import Lookup, lookup_for
from snapshots.search_language import (
    MAX_CLAUSES,
    AnyOf,
    Is,
    Not,
    Saved,
    SearchQuery,
    Site,
    Tag,
    Text,
    parse,
)


def clauses(q: str) -> tuple:
    return parse(q).clauses


def test_plain_words_are_each_required():
    assert clauses("gradient descent") == (Text("gradient"), Text("descent"))


def test_quotes_make_a_phrase_even_unclosed_and_in_chinese_quotes():
    assert clauses('"gradient descent" loss') == (Text("gradient descent", True), Text("loss"))
    assert clauses('"gradient   descent') == (Text("gradient descent", True),)
    assert clauses("“交叉熵 损失”") == (Text("交叉熵 损失", True),)


def test_minus_negates_a_word_a_phrase_and_a_tag():
    assert clauses('gun -obama -"white house" -#news') == (
        Text("gun"),
        Not(Text("obama")),
        Not(Text("white house", True)),
        Not(Tag("news")),
    )


def test_or_joins_its_neighbours_and_binds_tighter_than_spaces():
    assert clauses("entropy OR 交叉熵") == (AnyOf((Text("entropy"), Text("交叉熵"))),)
    assert clauses("a OR b OR c d") == (AnyOf((Text("a"), Text("b"), Text("c"))), Text("d"))


def test_an_or_with_nothing_on_one_side_is_the_word():
    assert clauses("OR") == (Text("OR"),)
    assert clauses("entropy OR") == (Text("entropy"), Text("OR"))
    assert clauses("or nothing") == (Text("or"), Text("nothing"))


def test_operators():
    assert clauses("#news site:www.Example.org is:UNREAD after:2024-01-31 before:2025-02-01") == (
        Tag("news"),
        Site("example.org"),
        Is("unread"),
        Saved("after", date(2024, 1, 31)),
        Saved("before", date(2025, 2, 1)),
    )
    assert clauses("site:https://example.org/path") == (Site("example.org"),)


def test_unknown_operators_and_empty_values_are_plain_text():
    assert clauses("foo:bar site: # C#") == (
        Text("foo:bar"),
        Text("site:"),
        Text("#"),
        Text("C#"),
    )
    assert clauses('"site:example.org"') == (Text("site:example.org", True),)


def test_a_bad_date_or_state_is_left_out_with_a_sentence():
    query = parse("after:2024-13-01 before:yesterday is:starred entropy")
    assert query.clauses == (Text("entropy"),)
    assert len(query.problems) == 3
    assert "“after:2024-13-01” is not a date: write it as YYYY-MM-DD" in query.problems[0]
    assert "is: takes unread, read, private, public, failed" in query.problems[2]


def test_lone_minus_and_stars_say_nothing():
    assert parse("- * --").clauses == ()
    assert not parse("   ")
    assert not parse(None)


def test_repeats_collapse_and_clauses_are_bounded():
    assert clauses("a a A") == (Text("a"), Text("A"))
    assert len(clauses(" ".join(f"w{n}" for n in range(50)))) == MAX_CLAUSES


def test_texts_are_the_positive_text_terms():
    query = parse('entropy -loss "kl divergence" a OR #b')
    assert [t.value for t in query.texts()] == ["entropy", "kl divergence", "a"]


def test_lookups_words_whole_chinese_as_substrings():
    assert lookup_for(Text("Gradient")) == Lookup("words", "gradient")
    assert lookup_for(Text("gradient descent", True)) == Lookup("words", "gradient descent")
    assert lookup_for(Text("node.js")) == Lookup("words", "node js")
    assert lookup_for(Text("交叉熵")) == Lookup("trigram", "交叉熵")
    assert lookup_for(Text("熵")) == Lookup("grams", "熵")
    assert lookup_for(Text("GPT模型")) == Lookup("trigram", "gpt模型")
    assert lookup_for(Text("%")) == Lookup("scan", "%")
    assert lookup_for(Text("++-")) == Lookup("trigram", "++-")


@given(st.text(max_size=300))
def test_any_string_parses_without_an_exception(q):
    query = parse(q)
    assert isinstance(query, SearchQuery)
    assert len(query.clauses) <= MAX_CLAUSES
    for text in query.texts():
        lookup_for(text)


@given(
    st.lists(
        st.sampled_from(
            ['"', "-", "OR", "#", "site:", "is:", "after:", "x", "熵", " ", "“", ":", "2024-01-01"]
        ),
        max_size=30,
    )
)
def test_any_mix_of_the_languages_pieces_parses(pieces):
    parse("".join(pieces))
    parse(" ".join(pieces))
