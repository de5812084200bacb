"""The loss demos in a real browser: live results without a reload, located errors, no-JS, Chinese."""

import re

import pytest
import torch
import torch.nn.functional as F
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def live_form(page):
    return page.locator("form.demo-form").first


@pytest.fixture
def demo_page(page, user):
    """A tab on a site that has its first account (else every page asks for the setup)."""
    return page


def test_editing_logits_updates_the_result_without_a_reload(demo_page):
    page = demo_page
    page.goto("/losses/cross-entropy/")
    expect(page.locator("#results")).to_contain_text("0.4170")
    page.evaluate("window.__noReload = 'still the same page'")

    live_form(page).get_by_label("Logits", exact=True).fill("0 0 0\n0 0 0")

    expect(page.locator("#results")).to_contain_text("1.0986")  # ln 3 for a uniform guess
    assert page.evaluate("window.__noReload") == "still the same page"
    expect(page).to_have_url(re.compile(r"logits=0\+0\+0"))  # the address shares the calculation


def test_a_ragged_row_shows_its_located_error_beside_the_field(demo_page):
    page = demo_page
    page.goto("/losses/cross-entropy/")

    live_form(page).get_by_label("Logits", exact=True).fill("1 2 3\n4 5")

    error = page.locator('[data-live-error="logits"]')
    expect(error).to_have_text("row 2 has 2 values, the others have 3")
    expect(live_form(page).get_by_label("Logits", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )

    live_form(page).get_by_label("Logits", exact=True).fill("1 2 3\n4 5 6")
    expect(error).to_be_hidden()
    expect(page.locator("#results")).to_contain_text("Step by step")


def test_the_form_without_javascript_gives_the_same_numbers(browser, live_server, user):
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, locale="en-US"
    )
    page = context.new_page()
    try:
        page.goto("/losses/cross-entropy/")
        live_form(page).get_by_label("Logits", exact=True).fill("0.5 -1 3\n2 2 0")
        live_form(page).get_by_label("Targets", exact=True).fill("2 0")
        page.get_by_role("button", name="Compute").click()

        expect(page).to_have_url(re.compile(r"target=2\+0"))
        expected = F.cross_entropy(
            torch.tensor([[0.5, -1, 3], [2, 2, 0]]), torch.tensor([2, 0]), reduction="none"
        )
        results = page.locator("#results")
        for value in expected.tolist():
            expect(results).to_contain_text(f"{value:.4f}")
    finally:
        context.close()


def test_the_chinese_page_renders(browser, live_server, user):
    context = browser.new_context(base_url=live_server.url, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto("/losses/softmax/")

        expect(page.get_by_role("heading", level=1)).to_have_text("Softmax 与 log-softmax")
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        expect(page.locator("#results")).to_contain_text("0.6590")
    finally:
        context.close()


def test_the_likelihood_curve_follows_the_outcomes(demo_page):
    page = demo_page
    page.goto("/losses/nll/")

    page.get_by_label("Outcomes (0 or 1)").fill("1 1 1 0")

    expect(page.locator("#likelihood-results")).to_contain_text("the sample mean is 0.7500")
    expect(page.locator("#likelihood-results svg[role=img]")).to_be_visible()


def test_a_mistake_recomputes_as_you_type(demo_page):
    page = demo_page
    page.goto("/losses/mistakes/")
    section = page.locator("#log-softmax-underflow")
    expect(section.locator(".side--right")).to_contain_text("-200.0000")

    section.get_by_label("Logits", exact=True).fill("0 1000")

    expect(section.locator(".side--right")).to_contain_text("-1000.0000")
    expect(section.locator(".side--wrong")).to_contain_text("−inf")


def test_the_snippet_has_a_copy_button(demo_page):
    page = demo_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/losses/softmax/")

    expect(page.locator("#results").get_by_role("button", name="Copy")).to_be_visible()
    button = page.locator("#results button[data-copy]")  # its name changes when clicked
    button.click()
    expect(button).to_have_text("Copied")
    assert "F.softmax(logits" in page.evaluate("navigator.clipboard.readText()")


def test_a_paste_too_long_for_an_address_still_updates_live(demo_page):
    page = demo_page
    page.goto("/losses/softmax/")
    page.evaluate("window.__noReload = 'still the same page'")

    rows = "\n".join(" ".join(["0.5"] * 50) for _ in range(40))  # ~6 kB: sent as a POST
    live_form(page).get_by_label("Logits", exact=True).fill(rows)

    expect(page.locator("#results")).to_contain_text("0.0200")  # 1/50 in every cell
    assert page.evaluate("window.__noReload") == "still the same page"
    assert "0.5" not in page.url


@pytest.mark.parametrize(
    "path", ["/losses/", "/losses/cross-entropy/", "/losses/nll/", "/losses/mistakes/"]
)
def test_pages_fit_a_phone_screen(demo_page, path):
    page = demo_page
    page.set_viewport_size({"width": 375, "height": 800})

    page.goto(path)

    assert page.evaluate("document.documentElement.scrollWidth") <= 375
