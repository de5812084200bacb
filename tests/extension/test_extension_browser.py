"""The browser extension (extension/, Manifest V3) loaded into Debian's chromium: its options page
keeps kb's address and a token, and it saves the open tab, with tags and notes, through the API."""

import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from snapshots.models import Link
from tests.conftest import chromium_path
from tests.support.servers import LocalHTTPServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXTENSION = Path(__file__).resolve().parents[2] / "extension"
ARTICLE = (
    b"<!doctype html><html><head><title>Slow water</title></head><body><p>Text.</p></body></html>"
)


@pytest.fixture
def extension_context(browser):
    """A chromium profile with the extension loaded; its background worker, and its id.

    Launched through the session's Playwright (the ``browser`` fixture's): a second Playwright
    cannot start in a process where one runs.
    """
    with tempfile.TemporaryDirectory() as profile:
        context = browser.browser_type.launch_persistent_context(
            profile,
            executable_path=chromium_path(),
            headless=True,
            args=[
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                f"--disable-extensions-except={EXTENSION}",
                f"--load-extension={EXTENSION}",
            ],
        )
        context.set_default_timeout(10_000)
        worker = context.service_workers[0] if context.service_workers else None
        if worker is None:
            worker = context.wait_for_event("serviceworker")
        extension_id = worker.url.split("/")[2]
        yield context, worker, extension_id
        context.close()


@pytest.fixture
def origin():
    with LocalHTTPServer() as server:
        server.route(
            "/slow-water", body=ARTICLE, headers={"Content-Type": "text/html; charset=utf-8"}
        )
        yield server


@pytest.fixture(autouse=True)
def _captures_stay_queued(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def ask_from_popup(context, extension_id, origin, request: str) -> dict:
    """What the popup does when it opens: ask whether the article's tab is already saved."""
    popup = context.new_page()
    popup.goto(f"chrome-extension://{extension_id}/popup.html")
    answer = popup.evaluate(
        """async ([address, type]) => {
            const [tab] = await chrome.tabs.query({url: address});
            return chrome.runtime.sendMessage({type, tabId: tab.id});
        }""",
        [origin.url("/slow-water"), request],
    )
    popup.close()
    return answer


def save_from_popup(context, extension_id, origin) -> dict:
    """What the popup's Save does: ask the background worker to save the article's tab."""
    popup = context.new_page()
    popup.goto(f"chrome-extension://{extension_id}/popup.html")
    answer = popup.evaluate(
        """async (address) => {
            const [tab] = await chrome.tabs.query({url: address});
            return chrome.runtime.sendMessage(
                {type: "save", tabId: tab.id, fields: {tags: "water, 阅读", notes: "From the extension."}}
            );
        }""",
        origin.url("/slow-water"),
    )
    popup.close()
    return answer


def test_the_extension_saves_the_open_tab_through_the_api(
    extension_context, live_server, user, api_token, origin
):
    context, _worker, extension_id = extension_context
    options = context.new_page()
    options.goto(f"chrome-extension://{extension_id}/options.html")
    options.get_by_label("Address of your kb").fill(live_server.url)
    options.get_by_label("API token").fill(api_token)
    options.get_by_role("button", name="Save settings").click()
    expect(options.get_by_text("Saved.")).to_be_visible()

    article = context.new_page()
    article.goto(origin.url("/slow-water"))

    assert ask_from_popup(context, extension_id, origin, "lookup") == {"saved": False}
    answer = save_from_popup(context, extension_id, origin)
    assert answer["ok"] is True, answer
    assert answer["alreadySaved"] is False
    link = Link.objects.get(owner=user)
    assert link.url == origin.url("/slow-water")
    assert link.title == "Slow water"
    assert link.notes == "From the extension."
    assert sorted(link.tags.names()) == ["water", "阅读"]
    assert answer["linkUrl"] == f"{live_server.url}/links/{link.pk}/"

    known = ask_from_popup(context, extension_id, origin, "lookup")
    assert known["saved"] is True
    assert known["linkUrl"] == answer["linkUrl"]
    again = save_from_popup(context, extension_id, origin)
    assert again["ok"] is True
    assert again["alreadySaved"] is True
    assert Link.objects.count() == 1


def test_a_wrong_token_is_said_in_words(extension_context, live_server, user, origin):
    context, worker, extension_id = extension_context
    worker.evaluate(
        "(address) => chrome.storage.local.set({kbUrl: address, token: 'wrong'})", live_server.url
    )
    context.new_page().goto(origin.url("/slow-water"))
    answer = save_from_popup(context, extension_id, origin)
    assert answer["ok"] is False
    assert "refused the API token" in answer["error"]
    assert not Link.objects.exists()


def test_the_popup_shows_the_tab_and_its_words(extension_context):
    context, _worker, extension_id = extension_context
    popup = context.new_page()
    popup.goto(f"chrome-extension://{extension_id}/popup.html")
    expect(popup.get_by_label("Tags")).to_be_visible()
    expect(popup.get_by_role("button", name="Save")).to_be_visible()
    popup.get_by_role("button", name="Save").click()
    expect(popup.get_by_role("status")).to_contain_text("Set kb's address and an API token")
