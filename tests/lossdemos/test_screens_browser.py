"""The four teaching views — gradient, training run, distributions you can drag, coding lengths — on
a desktop (1280 px) and a phone (375 px), in English and Chinese: nothing sticks out sideways, and
the charts fit their column.

Set KB_SCREENSHOTS to a folder to keep a PNG of each view (16 in all)."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# name: (address, the element that is the view)
VIEWS = {
    "gradient": ("/losses/cross-entropy/?grad=on", "section.gradient"),
    "training": ("/losses/cross-entropy/?steps=20", "#training"),
    "drag": (
        "/losses/kl/explore/?p=0.4+0.3+0.2+0.1&logits=2+1+0.1+-1&temperature=1.5&base=2",
        "#drag-view",
    ),
    "coding": ("/losses/cross-entropy/explore/", "#coding"),
}
SCREENS = {"desktop": (1280, 800), "phone": (375, 740)}
LOCALES = {"en": "en-US", "zh": "zh-CN"}


@pytest.mark.parametrize("language", list(LOCALES))
@pytest.mark.parametrize("screen", list(SCREENS))
def test_each_view_fits_the_screen(browser, live_server, user, screen, language):
    width, height = SCREENS[screen]
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": width, "height": height},
        locale=LOCALES[language],
        is_mobile=screen == "phone",
        has_touch=screen == "phone",
    )
    shots = os.environ.get("KB_SCREENSHOTS")
    try:
        page = context.new_page()
        for name, (address, selector) in VIEWS.items():
            page.goto(address)
            view = page.locator(selector)
            expect(view).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= width, name
            # every chart inside the view is no wider than the view itself
            too_wide = view.evaluate(
                """(view) => [...view.querySelectorAll("svg")]
                    .filter((svg) => svg.getBoundingClientRect().width > view.clientWidth + 1)
                    .map((svg) => svg.getAttribute("class"))"""
            )
            assert too_wide == [], (name, too_wide)
            # and every word in a chart is drawn at least 8 px tall, however much the chart shrinks
            tiny = view.evaluate(
                """(view) => [...view.querySelectorAll("svg text")]
                    .filter((t) => t.textContent.trim() && t.getBoundingClientRect().height < 8)
                    .map((t) => t.textContent)"""
            )
            assert tiny == [], (name, tiny)
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                path = str(Path(shots) / f"{name}-{screen}-{language}.png")
                if name == "drag":  # the form with its temperature slider, the bars, the numbers
                    top = page.locator("#explore-form").bounding_box()
                    bottom = view.bounding_box()
                    scroll = page.evaluate("scrollY")
                    clip = {
                        "x": 0,
                        "y": top["y"] + scroll - 8,
                        "width": width,
                        "height": bottom["y"] + bottom["height"] - top["y"] + 16,
                    }
                    page.screenshot(path=path, full_page=True, clip=clip)
                else:
                    view.screenshot(path=path)
        # the gradient's formula is written out (no elided "Σ ⋯") and fits: a phone wraps it
        page.goto(VIEWS["gradient"][0])
        formula = page.locator(".gradient__formula")
        assert "⋯" not in formula.inner_text()
        assert formula.evaluate("(f) => f.scrollWidth <= f.clientWidth + 1")
        # the logits field is a field like p and q: its label above it, the input the column's width
        page.goto(VIEWS["drag"][0])
        label = page.locator('label[for="id_logits"]').bounding_box()
        field = page.locator("#id_logits").bounding_box()
        column = page.locator(".field--logits").bounding_box()
        assert label["y"] + label["height"] <= field["y"] + 1
        assert field["width"] >= column["width"] - 2
    finally:
        context.close()
