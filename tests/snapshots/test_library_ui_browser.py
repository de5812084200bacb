"""The library's daily habits in a real browser: pictures in the list, a reader that shows the
archive's images, tokens made and revoked on the settings page, a failed re-capture that keeps the
title, a link page that follows its capture live, keyboard shortcuts, and a header that stays on
one line at 1280 px and short on a phone.

Set KB_SCREENSHOTS to a folder to keep screenshots of the library (1280 px and 375 px, en and zh).
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from kb.models import ApiToken
from snapshots.models import Link, Snapshot
from snapshots.services.links import link_create
from snapshots.tasks import run_capture, snapshot_request
from tests.support.capture import capture_from, run_queued_tasks
from tests.support.images import gif, png
from tests.support.pages import sign_in
from tests.support.servers import LocalHTTPServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ICON = png(16, 16, (200, 30, 30))
LEAD = png(64, 40, (10, 120, 200))
FIGURE = gif((200, 60, 10))
PARAGRAPH = (
    "Slow water runs under the old bridge every spring, and the people of the valley come to watch "
    "it carry the last ice down to the lake. "
)
STORY = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Slow water</title>"
    "<link rel='icon' href='/favicon.png'><meta property='og:image' content='/lead.png'></head>"
    f"<body><article><h1>Slow water</h1><p>{PARAGRAPH * 3}</p>"
    "<p><img src='/figure.gif' alt='the bridge' width='40' height='40'></p>"
    f"<p>{PARAGRAPH * 2}</p></article></body></html>"
).encode()
HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.fixture(autouse=True)
def _site_loaded():
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018


@pytest.fixture
def origin(settings, tmp_path):
    with LocalHTTPServer() as server:
        server.route("/story", body=STORY, headers=HTML)
        server.route("/favicon.png", body=ICON, headers={"Content-Type": "image/png"})
        server.route("/lead.png", body=LEAD, headers={"Content-Type": "image/png"})
        server.route("/figure.gif", body=FIGURE, headers={"Content-Type": "image/gif"})
        capture_from(settings, server, tmp_path)
        yield server


def captured_story(user, origin) -> Snapshot:
    url = origin.url("/story")
    link = Link.objects.create(owner=user, url=url, normalized_url=url)
    snapshot = snapshot_request(link=link, enqueue=False)
    run_capture(snapshot.pk)
    snapshot.refresh_from_db()
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    return snapshot


def loaded(image) -> bool:
    return image.evaluate("img => img.complete && img.naturalWidth > 0")


def test_a_library_row_shows_its_favicon_and_thumbnail(signed_in_page, user, origin):
    page = signed_in_page
    captured_story(user, origin)
    page.goto("/links/")
    row = page.locator(".link-row", has_text="Slow water")
    favicon, thumb = row.locator("img.favicon"), row.locator("img.link-row__thumb")
    expect(thumb).to_have_attribute("loading", "lazy")
    expect(thumb).to_have_attribute("width", "120")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.link-row img')].every(i => i.complete)"
    )
    assert loaded(favicon)
    assert loaded(thumb)
    assert thumb.evaluate("img => img.naturalWidth") == 64  # the lead image itself, from kb

    # the compact view, remembered: no pictures until switched back
    page.get_by_role("button", name="Compact").click()
    expect(page.locator("img.link-row__thumb")).to_have_count(0)
    page.goto("/links/")
    expect(page.get_by_role("button", name="Compact")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("img.link-row__thumb")).to_have_count(0)
    page.get_by_role("button", name="With pictures").click()
    expect(page.locator("img.link-row__thumb")).to_have_count(1)


def test_the_reader_shows_the_archived_image_without_asking_the_live_site(
    signed_in_page, user, origin, live_server
):
    page = signed_in_page
    snapshot = captured_story(user, origin)
    before = origin.request_count
    elsewhere = []
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith(live_server.url) else elsewhere.append(request.url)
        ),
    )
    page.goto(f"/snapshots/{snapshot.pk}/reader/")
    figure = page.locator(".reader__body img")
    expect(figure).to_have_attribute("alt", "the bridge")
    page.wait_for_function("() => document.querySelector('.reader__body img').complete")
    assert loaded(figure)
    assert elsewhere == []
    assert origin.request_count == before  # the live site was never asked


def test_a_token_made_on_the_settings_page_works_until_revoked(signed_in_page, user):
    page = signed_in_page
    page.goto("/")
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("What is it for?").fill("browser extension")
    page.get_by_role("button", name="Create a token").click()
    key = page.get_by_label("New API token").input_value()
    assert len(key) > 30
    assert ApiToken.objects.get(user=user).name == "browser extension"

    bearer = {"Authorization": f"Bearer {key}"}
    assert page.request.get("/api/links", headers=bearer).status == 200
    page.goto("/accounts/settings/")
    expect(page.get_by_label("New API token")).to_have_count(0)  # shown once
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("row", name=re.compile("browser extension")).get_by_role(
        "button", name="Revoke"
    ).click()
    expect(page.get_by_text("The token is revoked")).to_be_visible()
    refused = page.request.get("/api/links", headers=bearer)
    assert refused.status == 401
    assert refused.headers["www-authenticate"] == "Bearer"


def test_a_recapture_that_fails_leaves_the_library_showing_the_title(signed_in_page, user, origin):
    page = signed_in_page
    snapshot = captured_story(user, origin)
    origin.route("/story", status=404, body=b"gone", headers=HTML)  # the page has gone
    page.goto(f"/links/{snapshot.link_id}/")
    page.get_by_role("button", name="Capture again").click()  # runs now (immediate backend)
    expect(page.locator("[data-snapshot-status]").first).to_have_text("failed")
    expect(page.locator("#link-title")).to_have_text("Slow water")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Library").click()
    row = page.locator(".link-row").first
    expect(row.locator(".link-row__title")).to_have_text("Slow water")
    expect(row.locator(".badge--failed")).to_be_visible()


def test_the_link_page_follows_its_capture_live(signed_in_page, user, origin, settings):
    page = signed_in_page
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    link_create(owner=user, url="https://elsewhere.example/first")  # queued ahead of ours
    link, _ = link_create(owner=user, url=origin.url("/story"))
    page.goto(f"/links/{link.pk}/")
    expect(page.locator("#link-title")).to_have_text(origin.url("/story"))
    expect(page.get_by_text("1 capture ahead of this one.")).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")

    run_queued_tasks("library-ui-browser-test")

    expect(page.locator("#link-title")).to_have_text("Slow water", timeout=20_000)
    expect(page.locator("[data-snapshot-status]").first).to_have_text("captured")
    assert page.title() == "Slow water · kb"
    assert page.evaluate("window.stillTheSamePage") is True


def test_keyboard_shortcuts_move_open_and_explain_themselves_in_chinese(signed_in_page, user):
    page = signed_in_page
    for number in range(3):
        link_create(owner=user, url=f"https://k{number}.example/", title=f"Link {number}")
    page.goto("/links/")
    page.get_by_role("button", name="简体中文").click()
    expect(page.get_by_role("heading", name="资料库")).to_be_visible()
    page.wait_for_load_state("load")  # the shortcuts' script has run
    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="键盘快捷键")
    expect(help_dialog).to_be_visible()
    expect(help_dialog.get_by_text("打开选中的链接")).to_be_visible()
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    page.keyboard.press("/")
    expect(page.locator("#library-q")).to_be_focused()
    page.keyboard.type("j")  # typed into the box, not a shortcut
    expect(page.locator("#library-q")).to_have_value("j")
    page.locator("h1").click()

    rows = page.locator(".link-row")
    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile("link-row--current"))
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile("link-row--current"))
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class(re.compile("link-row--current"))
    title = rows.nth(0).locator(".link-row__title a").inner_text()
    page.keyboard.press("o")
    expect(page.locator("#link-title")).to_have_text(title)
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"/links/add/$"))


def header_height(page) -> float:
    return page.locator(".site-header").bounding_box()["height"]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_header_is_one_line_at_1280_and_short_on_a_phone(
    browser, live_server, django_user_model, origin, language
):
    admin = django_user_model.objects.create_user(
        username="administrator", password="correct horse 42", is_staff=True
    )
    titles = ["Cross-entropy and perplexity", "困惑度与负对数似然的关系", "Why entropy matters"]
    colours = [(220, 90, 40), (40, 160, 90), (90, 60, 200)]
    for number, (title, colour) in enumerate(zip(titles, colours, strict=True)):
        page = STORY.replace(b"Slow water", title.encode()).replace(
            b"/lead.png", b"/lead%d.png" % number
        )
        origin.route(f"/s{number}", body=page, headers=HTML)
        origin.route(
            f"/lead{number}.png", body=png(96, 60, colour), headers={"Content-Type": "image/png"}
        )
        url = origin.url(f"/s{number}")
        link = Link.objects.create(owner=admin, url=url, normalized_url=url)
        link.tags.add("entropy", "阅读")
        run_capture(snapshot_request(link=link, enqueue=False).pk)
    link_create(owner=admin, url="https://not-yet.example/page", tags=["later"], capture=False)
    shots = os.environ.get("KB_SCREENSHOTS")
    for width, height, most in ((1280, 800, 64), (375, 740, 90)):
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": width, "height": height}, locale="en-US"
        )
        context.add_cookies(
            [{"name": "django_language", "value": language, "url": live_server.url}]
        )
        tab = context.new_page()
        sign_in(tab, "administrator")
        tab.goto("/links/")
        if shots:
            tab.wait_for_function(
                "() => [...document.images]"
                ".filter(i => i.getBoundingClientRect().top < innerHeight).every(i => i.complete)"
            )
            Path(shots).mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(Path(shots) / f"library-{width}-{language}.png"))
        measured = header_height(tab)
        assert measured <= most, f"the header is {measured}px tall at {width}px ({language})"
        assert tab.evaluate("document.documentElement.scrollWidth") <= width
        context.close()


def test_the_chosen_theme_wins_over_the_systems(signed_in_page):
    page = signed_in_page
    page.emulate_media(color_scheme="light")
    page.goto("/accounts/settings/")
    page.get_by_label("Theme").select_option("dark")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Your settings are saved.")).to_be_visible()
    background = "() => getComputedStyle(document.body).backgroundColor"
    assert page.evaluate(background) == "rgb(13, 17, 23)"
    page.emulate_media(color_scheme="dark")
    page.get_by_label("Theme").select_option("light")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Your settings are saved.")).to_be_visible()
    assert page.evaluate(background) == "rgb(255, 255, 255)"
