"""The first person on a fresh install, in a real browser: setup, sign in, every page, Chinese."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAVIGATION = ["Library", "Add link", "Tags", "Loss demos"]


def test_first_account_sign_in_navigation_and_chinese(page):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup/$"))
    expect(page.get_by_role("heading", name="Welcome to kb")).to_be_visible()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password", exact=True).fill("a long passphrase 7")
    page.get_by_label("Password confirmation").fill("a long passphrase 7")
    page.get_by_role("button", name="Create the account").click()
    expect(page.locator(".site-account__name")).to_have_text("ada")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()
    page.get_by_role("link", name="Sign in", exact=True).click()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("a long passphrase 7")
    page.locator("form.form").get_by_role("button", name="Sign in").click()
    expect(page.locator(".site-account__name")).to_have_text("ada")

    nav = page.get_by_role("navigation", name="Main")
    for name in NAVIGATION:
        nav.get_by_role("link", name=name).click()
        expect(nav.get_by_role("link", name=name)).to_have_attribute("aria-current", "page")
        assert page.title().endswith("· kb")
        assert not page.get_by_text("Server error").is_visible()

    page.get_by_role("button", name="简体中文").click()
    nav = page.get_by_role("navigation", name="主导航")
    expect(nav.get_by_role("link", name="资料库")).to_be_visible()
    expect(nav.get_by_role("link", name="添加链接")).to_be_visible()
    expect(nav.get_by_role("link", name="损失函数演示")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")


def test_layout_fits_a_phone_screen(browser, live_server, django_user_model):
    django_user_model.objects.create_user(username="ada", password="a long passphrase 7")
    context = browser.new_context(base_url=live_server.url, viewport={"width": 375, "height": 740})
    phone = context.new_page()
    phone.goto("/")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways on a phone ({width}px wide)"
    # Keyboard: the first Tab reaches the skip link.
    phone.keyboard.press("Tab")
    expect(phone.locator(".skip-link")).to_be_focused()
    context.close()


def test_api_docs_render_with_the_network_off(page, live_server):
    # Swagger UI comes from django-ninja's own static files, not a CDN: nothing leaves the site,
    # and the site's CSP lets it run.
    outside = []
    page.route(
        re.compile(r"^https?://(?!127\.0\.0\.1|localhost)"),
        lambda route: (outside.append(route.request.url), route.abort()),
    )
    violations = []
    page.on(
        "console", lambda msg: "Content Security Policy" in msg.text and violations.append(msg.text)
    )
    page.goto("/api/docs")
    expect(page.get_by_text("POST", exact=True).first).to_be_visible()
    expect(page.get_by_text("/api/links", exact=True).first).to_be_visible()
    assert outside == [], outside
    assert violations == [], violations
