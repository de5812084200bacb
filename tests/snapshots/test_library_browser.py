"""The library in a real browser: add and watch the capture, filter, search Chinese, bulk edit,
import, compare two snapshots, and a phone-sized screen."""

import re

import pytest
from playwright.sync_api import expect

from snapshots.models import Link, Snapshot
from snapshots.search import reindex_link
from snapshots.services.links import link_create
from tests.support.capture import run_queued_tasks
from tests.support.pages import sign_in
from tests.support.servers import LocalHTTPServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTICLE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Why entropy matters</title>
<meta name="author" content="Claude Shannon"></head>
<body><article><h1>Why entropy matters</h1>
<p>Entropy measures how uncertain we are about the outcome of a random variable. A fair coin has
one bit of entropy, while a coin that always lands heads has none at all.</p>
<p>Cross-entropy compares two distributions: the true one and the one a model predicts. Training a
language model lowers the cross-entropy of its predictions on the text it reads.</p>
<p>Perplexity is the exponential of the cross-entropy, the number of equally likely choices the
model is, on average, hesitating between.</p>
</article></body></html>
"""


@pytest.fixture(autouse=True)
def _site_loaded():
    """Load the URL configuration (and every view module it imports, torch included) before the
    first page is opened, so the browser's first navigation is not the one that pays for it."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018


@pytest.fixture
def captures_stay_queued(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def save(owner, url, **fields):
    link, _ = link_create(owner=owner, url=url, capture=False, **fields)
    return link


def captured(link, text):
    snapshot = Snapshot.objects.create(link=link, status=Snapshot.Status.SUCCEEDED, text=text)
    Link.objects.filter(pk=link.pk).update(latest_snapshot=snapshot)
    reindex_link(link.pk)
    return snapshot


def test_added_link_is_captured_while_the_page_watches(signed_in_page, settings, tmp_path):
    page = signed_in_page
    # A real queue: the request only enqueues; the worker below runs the capture.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.KB_CAPTURE_RETRY_DELAYS = (0, 0)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "blobs")},
        },
    }
    with LocalHTTPServer() as origin:
        origin.route(
            "/entropy.html",
            body=ARTICLE.encode(),
            headers={"Content-Type": "text/html; charset=utf-8"},
        )
        settings.KB_FETCH_ALLOW_HOSTS = [f"127.0.0.1:{origin.port}"]

        page.goto("/links/add/")
        page.get_by_label("URL").fill(origin.url("/entropy.html?utm_source=test"))
        page.get_by_label("Tags").fill("information-theory reading")
        page.get_by_role("button", name="Save and capture").click()

        expect(page.get_by_text("Saved. The page is being captured.")).to_be_visible()
        history = page.locator("#capture-history")
        expect(history.get_by_text("Queued for capture…")).to_be_visible()
        # Mark this document: if the page reloaded, the mark would be gone.
        page.evaluate("window.stillTheSamePage = true")

        run_queued_tasks("library-browser-test")

        expect(history.locator("[data-snapshot-status]").first).to_have_text(
            "captured", timeout=20_000
        )
    expect(history.get_by_text("Queued for capture…")).to_have_count(0)
    expect(history.get_by_role("link", name="Reader")).to_be_visible()
    expect(page.locator("#capture-announcer")).to_have_text("Latest capture: captured")
    assert page.evaluate("window.stillTheSamePage") is True

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Library").click()
    row = page.locator(".link-row", has_text="Why entropy matters")
    expect(row).to_be_visible()
    expect(row.locator(".badge--succeeded")).to_have_text("captured")
    expect(row.get_by_role("link", name="information-theory")).to_be_visible()


def test_filter_by_two_tags(signed_in_page, user, captures_stay_queued):
    page = signed_in_page
    save(user, "https://example.com/both", title="Both tags", tags=["python", "ml"])
    save(user, "https://example.com/python", title="Only python", tags=["python"])
    save(user, "https://example.com/ml", title="Only ml", tags=["ml"])

    page.goto("/links/")
    expect(page.locator(".link-row")).to_have_count(3)
    page.locator(".link-row", has_text="Only python").get_by_role(
        "link", name="python", exact=True
    ).click()
    expect(page.locator(".link-row")).to_have_count(2)
    page.get_by_role("navigation", name="Filter by tag").get_by_role("link", name="ml").click()
    expect(page.locator(".link-row")).to_have_count(1)
    expect(page.locator(".link-row")).to_contain_text("Both tags")
    expect(page).to_have_url(re.compile(r"tag=python&tag=ml"))
    chips = page.get_by_label("Active filters")
    expect(chips.locator("li")).to_have_count(2)

    chips.get_by_role("link", name="Remove the filter Tag: python").click()
    expect(page.locator(".link-row")).to_have_count(2)


def test_search_finds_a_chinese_word_inside_unspaced_chinese_text(
    signed_in_page, user, captures_stay_queued
):
    page = signed_in_page
    article = save(user, "https://example.cn/article", title="一篇文章")
    captured(
        article,
        "在机器学习中，模型的训练目标通常是最小化交叉熵损失函数。困惑度是交叉熵的指数，"
        "它衡量语言模型在预测下一个词时的不确定程度。",
    )
    other = save(user, "https://example.cn/other", title="另一篇")
    captured(other, "今天的天气很好，我们去公园散步，看见了很多花。")

    page.goto("/links/")
    page.get_by_label("Search titles, notes, tags and page text").fill("交叉熵")
    page.get_by_role("button", name="Search", exact=True).last.click()
    rows = page.locator(".link-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("一篇文章")
    expect(rows.first.locator(".link-row__excerpt mark").first).to_have_text("交叉熵")


def test_bulk_add_a_tag_to_three_links(signed_in_page, user, captures_stay_queued):
    page = signed_in_page
    for number in range(4):
        save(user, f"https://example.com/{number}", title=f"Article {number}")

    page.goto("/links/")
    for number in (0, 1, 3):
        page.get_by_label(f"Select “Article {number}”").check()
    page.get_by_label("Action").select_option("add_tags")
    page.get_by_label("Tags to add or remove").fill("to-read")
    page.get_by_role("button", name="Apply to selected").click()

    expect(page.get_by_text("Add tags: 3 links.")).to_be_visible()
    for number in (0, 1, 3):
        row = page.locator(".link-row", has_text=f"Article {number}")
        expect(row.get_by_role("link", name="to-read")).to_be_visible()
    expect(
        page.locator(".link-row", has_text="Article 2").get_by_role("link", name="to-read")
    ).to_have_count(0)


def test_select_all_checks_every_own_link_on_the_page(signed_in_page, user, captures_stay_queued):
    page = signed_in_page
    for number in range(3):
        save(user, f"https://example.com/{number}", title=f"Article {number}")
    page.goto("/links/")
    page.get_by_label("Select all on this page").check()
    expect(page.locator("input[name=link]:checked")).to_have_count(3)


def test_import_a_bookmarks_file(signed_in_page, captures_stay_queued):
    page = signed_in_page
    bookmarks = b"""<!DOCTYPE NETSCAPE-Bookmark-file-1>
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>Bookmarks</TITLE><H1>Bookmarks</H1>
<DL><p>
  <DT><H3>Research</H3>
  <DL><p>
    <DT><A HREF="https://arxiv.org/abs/1706.03762" ADD_DATE="1700000000" TAGS="transformers">Attention Is All You Need</A>
    <DT><A HREF="https://example.org/kl" ADD_DATE="1700000100">KL divergence explained</A>
  </DL><p>
</DL><p>
"""
    page.goto("/links/import/")
    page.get_by_label("Bookmarks file").set_input_files(
        {"name": "bookmarks.html", "mimeType": "text/html", "buffer": bookmarks}
    )
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible()
    expect(page.get_by_text("2 new links saved")).to_be_visible()

    page.get_by_role("link", name="Open the library").click()
    row = page.locator(".link-row", has_text="Attention Is All You Need")
    expect(row.get_by_role("link", name="transformers")).to_be_visible()
    expect(row.get_by_role("link", name="Research")).to_be_visible()
    expect(page.locator(".link-row", has_text="KL divergence explained")).to_be_visible()


def test_compare_two_snapshots_of_a_page_that_changed(signed_in_page, user, captures_stay_queued):
    page = signed_in_page
    link = save(user, "https://example.com/news", title="Election news")
    captured(link, "Polls open at eight. Turnout is expected to be low. Results come tonight.")
    captured(link, "Polls open at eight. Turnout was the highest in decades. Results come tonight.")

    page.goto(f"/links/{link.pk}/")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("heading", name="What changed")).to_be_visible()
    diff = page.locator(".diff")
    expect(diff.locator("del").first).to_contain_text("expected to be low")
    expect(diff.locator("ins").first).to_contain_text("highest in decades")
    expect(diff).to_contain_text("Polls open at eight.")


def test_library_and_link_pages_fit_a_phone_screen(
    browser, live_server, user, captures_stay_queued
):
    link = save(
        user,
        "https://a-very-long-domain-name-for-testing.example/" + "segment/" * 20,
        title="A title long enough to wrap " * 4,
        tags=["one", "two", "three", "four", "five"],
    )
    captured(link, "Text.")
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 375, "height": 740}, locale="en-US"
    )
    phone = context.new_page()
    sign_in(phone, "ada")
    for path in ("/links/", f"/links/{link.pk}/", "/tags/", "/links/add/", "/links/import/"):
        phone.goto(path)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways on a phone ({width}px wide)"
    context.close()


def test_on_a_phone_the_bulk_bar_appears_once_a_link_is_selected(
    browser, live_server, user, captures_stay_queued
):
    for number in range(12):
        save(user, f"https://example.com/{number}", title=f"Article {number}")
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 375, "height": 740}, locale="en-US"
    )
    phone = context.new_page()
    sign_in(phone, "ada")
    phone.goto("/links/")
    expect(phone.get_by_role("button", name="Apply to selected")).to_be_hidden()
    expect(phone.locator(".link-row").first).to_be_in_viewport()

    phone.get_by_label("Select “Article 0”").check()
    expect(phone.get_by_role("button", name="Apply to selected")).to_be_visible()
    phone.locator(".link-row", has_text="Article 11").scroll_into_view_if_needed()
    expect(phone.get_by_role("button", name="Apply to selected")).to_be_in_viewport()
    context.close()


def test_tag_field_suggests_the_users_tags_for_the_last_word(
    signed_in_page, user, captures_stay_queued
):
    page = signed_in_page
    save(user, "https://example.com/1", tags=["machine-learning", "python", "maths"])
    page.goto("/links/add/")
    page.get_by_label("Tags").press_sequentially("python ma")
    suggestions = page.locator("datalist#tag-suggestions-id_tags option")
    expect(suggestions).to_have_count(2)
    values = sorted(suggestions.evaluate_all("options => options.map(o => o.value)"))
    assert values == ["python machine-learning", "python maths"]


def test_tag_fields_split_what_is_typed_where_the_server_splits_tags(
    signed_in_page, user, captures_stay_queued
):
    save(user, "https://example.com/1", tags=["machine-learning", "python", "maths"])
    # A semicolon, plain or full-width, separates tags for parse_tags: so it does in every field.
    for path, field in (("/links/add/", "id_tags"), ("/links/", "bulk-tags")):
        signed_in_page.goto(path)
        for separator in (";", "；"):
            signed_in_page.fill(f"#{field}", "")
            signed_in_page.locator(f"#{field}").press_sequentially(f"python{separator}ma")
            options = signed_in_page.locator(f"datalist#tag-suggestions-{field} option")
            expect(options).to_have_count(2)
            suggested = options.evaluate_all("options => options.map(o => o.value)")
            assert sorted(suggested) == [
                f"python{separator}machine-learning",
                f"python{separator}maths",
            ]
