"""Each operator of the search language, through the library page, the API and the queries.

Marked `database` like every test that touches it, so `make pytest-postgres` runs them again on
PostgreSQL: the language means the same on both.
"""

from datetime import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from snapshots.library_pages import library_count
from snapshots.models import Snapshot
from snapshots.queries import LibraryFilters, library_links, link_excerpts
from snapshots.search import reindex_link
from snapshots.services.links import link_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def captures_queued_not_run(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def captured(link, text, status=Snapshot.Status.SUCCEEDED):
    snapshot = Snapshot.objects.create(link=link, status=status, text=text, finished=timezone.now())
    link.latest_snapshot = snapshot
    link.save(update_fields=["latest_snapshot"])
    reindex_link(link.pk)
    return snapshot


def saved(user, url, text="", *, tags=(), private=True, day=None, status=None, title=""):
    link, _ = link_create(owner=user, url=url, tags=list(tags), private=private, title=title)
    if day:
        link.created = timezone.make_aware(datetime.fromisoformat(day))
        link.save(update_fields=["created"])
    if text or status:
        captured(link, text, status or Snapshot.Status.SUCCEEDED)
    return link


@pytest.fixture
def library(user):
    saved(
        user,
        "https://ml.example.org/gd",
        "Gradient descent follows the slope. Cross-entropy is its loss.",
        tags=["ml", "news"],
        day="2024-03-01T12:00:00",
    )
    saved(
        user,
        "https://blog.example.org/descent",
        "The descent of a mountain needs a gradient map.",
        tags=["travel"],
        private=False,
        day="2024-06-01T12:00:00",
    )
    saved(
        user,
        "https://zh.example.com/ce",
        "交叉熵损失函数衡量两个分布的差异",
        tags=["ml", "中文"],
        day="2025-01-01T12:00:00",
    )
    saved(user, "https://gun.example.net/", "Gun laws: obama spoke", day="2025-02-01T12:00:00")
    saved(user, "https://gone.example.net/", status=Snapshot.Status.FAILED, title="Gone page")


def found(user, q):
    return sorted(
        link.url.split("//")[1].split("/")[0] for link in library_links(user, LibraryFilters(q=q))
    )


@pytest.mark.parametrize(
    ("q", "hosts"),
    [
        ("gradient descent", ["blog.example.org", "ml.example.org"]),
        ('"gradient descent"', ["ml.example.org"]),
        ('"descent gradient"', []),
        ('"交叉熵损失"', ["zh.example.com"]),
        ('"熵损"', ["zh.example.com"]),
        ('"熵 损"', []),
        ("gun -obama", []),
        ("descent -mountain", ["ml.example.org"]),
        ('descent -"gradient descent"', ["blog.example.org"]),
        ("entropy OR 交叉熵", ["ml.example.org", "zh.example.com"]),
        ("mountain OR #中文 OR obama", ["blog.example.org", "gun.example.net", "zh.example.com"]),
        ("#ml", ["ml.example.org", "zh.example.com"]),
        ("#ML -#news", ["zh.example.com"]),
        ("-#ml", ["blog.example.org", "gone.example.net", "gun.example.net"]),
        ("site:example.org", ["blog.example.org", "ml.example.org"]),
        ("site:blog.example.org", ["blog.example.org"]),
        ("site:ample.org", []),
        ("is:public", ["blog.example.org"]),
        ("is:private descent", ["ml.example.org"]),
        ("is:failed", ["gone.example.net"]),
        ("after:2025-01-01", ["gone.example.net", "gun.example.net", "zh.example.com"]),
        ("before:2024-06-01", ["ml.example.org"]),
        ("after:2024-01-01 before:2025-01-01 gradient", ["blog.example.org", "ml.example.org"]),
        ("gun:laws", ["gun.example.net"]),  # an unknown operator is plain text
        ("foo:bar", []),
        ("entrop", []),
        ("Gone", ["gone.example.net"]),
        ("损失", ["zh.example.com"]),
        ("熵 -损失", []),
        # a negated term of the same index as a wanted one, of another index, of several
        ("gradient -cross -mountain", []),
        ("gradient -交叉熵", ["blog.example.org", "ml.example.org"]),
        ("gradient -熵", ["blog.example.org", "ml.example.org"]),
        ('"交叉熵" -"分布的"', []),
        ('"交叉熵" -"山"', ["zh.example.com"]),
        ("损失 -熵", []),
        ("损失 -山", ["zh.example.com"]),
        ("交叉熵 -slope", ["zh.example.com"]),
        ('"gradient descent" -entropy', []),
        ('"gradient descent" -mountain', ["ml.example.org"]),
        ("descent -#travel -obama", ["ml.example.org"]),
    ],
)
def test_each_operator(user, library, q, hosts):
    assert found(user, q) == hosts


@pytest.mark.parametrize(
    "q", ["descent -mountain", "gradient -交叉熵", '"gradient descent" -mountain', "损失 -山"]
)
def test_negated_terms_on_pages_and_in_the_api(client, user, library, q):
    # The library page walks links newest first (each checked by key), the API asks the indexes:
    # the same links either way.
    client.force_login(user)
    page = client.get(reverse("snapshots:library"), {"q": q})
    shown = sorted(row["domain"] for row in page.context["rows"])
    answer = client.get("/api/links", {"q": q}).json()
    assert sorted(item["domain"] for item in answer["items"]) == shown == found(user, q)
    assert answer["count"] == len(shown)


def test_is_unread_and_read(user, library):
    link = library_links(user, LibraryFilters(q="obama"))[0]
    link.unread = False
    link.save(update_fields=["unread"])
    assert found(user, "is:read") == ["gun.example.net"]
    assert "gun.example.net" not in found(user, "is:unread")


def test_the_count_agrees_with_the_rows(user, library):
    for q in ["descent", "#ml -#news", "entropy OR 交叉熵", "is:failed", "-obama"]:
        filters = LibraryFilters(q=q)
        links = library_links(user, filters)
        assert library_count(links, filters) == len(list(links)), q


def test_others_private_links_stay_hidden_whatever_the_query(user, other_user, library):
    assert found(other_user, "descent OR gradient OR #ml OR is:private") == ["blog.example.org"]


def test_excerpts_mark_whole_words_and_phrases(user, library):
    links = list(library_links(user, LibraryFilters(q='"gradient descent"')))
    excerpt = link_excerpts(links, '"gradient descent"')[links[0].pk]
    assert "<mark>Gradient descent</mark>" in excerpt
    links = list(library_links(user, LibraryFilters(q="loss")))
    assert "<mark>loss</mark>" in link_excerpts(links, "loss")[links[0].pk]


def test_library_page_searches_with_the_language(client, user, library):
    client.force_login(user)
    response = client.get(reverse("snapshots:library"), {"q": '"gradient descent" #ml'})
    assert response.status_code == 200
    assert [row["domain"] for row in response.context["rows"]] == ["ml.example.org"]
    assert "Search tips" in response.content.decode()


def test_library_page_says_what_a_bad_date_means(client, user, library):
    client.force_login(user)
    response = client.get(reverse("snapshots:library"), {"q": "after:2024-02-30 descent"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "is not a date: write it as YYYY-MM-DD" in text
    assert len(response.context["rows"]) == 2  # the rest of the query still searched


def test_header_box_hands_the_query_to_the_library(client, user, library):
    client.force_login(user)
    response = client.get(reverse("search"), {"q": "#ml -#news"}, follow=True)
    assert [row["domain"] for row in response.context["rows"]] == ["zh.example.com"]


def test_api_q_is_the_search_language(client, user, library):
    client.force_login(user)
    answer = client.get("/api/links", {"q": "site:example.org -mountain"}).json()
    assert answer["count"] == 1
    assert [item["domain"] for item in answer["items"]] == ["ml.example.org"]
    answer = client.get("/api/links", {"q": "entropy OR 交叉熵"}).json()
    assert answer["count"] == 2


def test_api_refuses_a_bad_date_with_a_sentence(client, user, library):
    client.force_login(user)
    response = client.get("/api/links", {"q": "before:2024/01/01"})
    assert response.status_code == 422
    assert response.json()["error"].startswith("“before:2024/01/01” is not a date")


def test_the_language_in_chinese(client, user, library):
    client.force_login(user)
    response = client.get(
        reverse("snapshots:library"), {"q": "is:nope"}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    text = response.content.decode()
    assert "搜索技巧" in text
    assert "is: 只接受" in text


def test_the_count_and_the_page_share_one_search(client, user, library):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("snapshots:library"), {"q": "descent OR 交叉熵"})
    searches = [q["sql"] for q in queries.captured_queries if "snapshots_link_search" in q["sql"]]
    # The whole search runs once (here: the count, in the index). Finding the page may then ask
    # the index about a window of links only, by key (SQLite: a rowid range; PostgreSQL: ANY).
    whole = [sql for sql in searches if "BETWEEN" not in sql and "ANY(" not in sql]
    assert len(whole) == 1
    assert response.context["page"].paginator.count == 3
    assert len(response.context["rows"]) == 3


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    q=st.text(
        alphabet=st.sampled_from(list("ab熵交叉 \"-#:OR*()^%_\\'site:is:after:2024-01-01")),
        max_size=40,
    )
)
def test_any_query_searches_without_an_error(user, library, q):
    filters = LibraryFilters(q=q)
    links = library_links(user, filters)
    assert library_count(links, filters) == len(list(links))
