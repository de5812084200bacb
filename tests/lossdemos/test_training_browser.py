"""In a real browser: 20 training steps make the loss fall, live, in English and Chinese; on a
desktop screen the results sit beside the form while the reader types."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LABELS = {
    "en-US": {"steps": "Training steps", "loss": "Loss (mean cross-entropy, nats)"},
    "zh-CN": {"steps": "训练步数", "loss": "损失（平均交叉熵，奈特）"},
}


@pytest.mark.parametrize("slug", ["cross-entropy", "nll"])  # NLL trains its input as logits
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_twenty_training_steps_make_the_loss_fall(browser, live_server, user, locale, slug):
    context = browser.new_context(base_url=live_server.url, locale=locale)
    page = context.new_page()
    try:
        page.goto(f"/losses/{slug}/")
        form = page.locator("form.demo-form").first

        form.get_by_label(LABELS[locale]["steps"], exact=True).fill("20")

        curve = page.locator("figure.chart--loss")
        expect(curve).to_contain_text(LABELS[locale]["loss"])
        first = float(curve.get_attribute("data-first"))
        last = float(curve.get_attribute("data-last"))
        assert last < first
        assert curve.locator("path.chart-curve").get_attribute("d").count("L") == 20
        expect(page).to_have_url(re.compile(r"steps=20"))
    finally:
        context.close()


def test_on_a_desktop_the_results_stay_in_view_beside_the_form(browser, live_server, user):
    context = browser.new_context(
        base_url=live_server.url, locale="en-US", viewport={"width": 1440, "height": 900}
    )
    page = context.new_page()
    try:
        page.goto("/losses/cross-entropy/")
        logits = page.locator("form.demo-form").first.get_by_label("Logits", exact=True)

        logits.fill("0 0 0\n0 0 0")

        results = page.locator("#results")
        expect(results).to_contain_text("1.0986")
        form_box = logits.bounding_box()
        results_box = results.bounding_box()
        assert results_box["x"] >= form_box["x"] + form_box["width"]  # beside, not below
        assert results_box["y"] < 900  # visible without scrolling
    finally:
        context.close()
