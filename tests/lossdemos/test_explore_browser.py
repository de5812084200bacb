"""Distributions you can move and the exercises, in a real browser, in English and Chinese.

Dragging a bar recomputes everything in the page's JavaScript; the address it writes, loaded from
the server, must show the very same digits (the server computes them with PyTorch)."""

import re
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from lossdemos import exercises
from lossdemos.explore import format_number

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOCALES = {"en": "en-US", "zh": "zh-CN"}
NUMBERS = ["entropy_p", "entropy_q", "cross_entropy_pq", "cross_entropy_qp", "kl_pq", "kl_qp", "js"]
CODING = ["length_p", "length_q", "entropy", "cross_entropy", "gap"]


@pytest.fixture(params=list(LOCALES))
def tab(request, browser, live_server, user):
    context = browser.new_context(base_url=live_server.url, locale=LOCALES[request.param])
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield request.param, page
    context.close()


def shown(page) -> dict[str, str]:
    values = {key: page.locator(f'[data-number="{key}"]').inner_text() for key in NUMBERS}
    for key in CODING:
        values["coding_" + key] = page.locator(f'[data-coding="{key}"]').inner_text()
    return values


def served(page, url: str) -> dict[str, str]:
    """The numbers the server writes into the page at ``url`` (no JavaScript involved)."""
    html = page.request.get(url).text()
    values = dict(re.findall(r'data-number="(\w+)">([^<]+)<', html))
    for key, value in re.findall(r'data-coding="(\w+)">([^<]+)<', html):
        values["coding_" + key] = value
    return values


def test_dragging_a_bar_of_p_updates_both_directions_and_jensen_shannon(tab):
    language, page = tab
    page.goto("/losses/kl/explore/")
    expect(page.locator("#explorer[data-ready=true]")).to_be_attached()
    before = shown(page)

    bar = page.locator('[data-dist="p"] .explore-hit').nth(3)
    box = bar.bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + box["height"] * 0.85)
    page.mouse.down()
    page.mouse.move(x, box["y"] + box["height"] * 0.5, steps=5)
    page.mouse.move(x, box["y"] + box["height"] * 0.2, steps=5)
    page.mouse.up()

    expect(page).to_have_url(re.compile(r"p=0\.\d+"))
    after = shown(page)
    for key in ("kl_pq", "kl_qp", "js", "entropy_p"):
        assert after[key] != before[key], key
    assert (
        float(page.locator('[data-dist="p"] .explore-hit').nth(3).get_attribute("aria-valuenow"))
        > 0.5
    )
    # the address shares the dragged distributions: the server's page shows the same digits
    assert served(page, page.url) == after
    if language == "zh":
        expect(page.get_by_role("heading", name="两个方向，并排对比")).to_be_visible()


def test_the_arrow_keys_move_a_bar_and_the_numbers_follow_the_server(tab):
    _language, page = tab
    page.goto("/losses/entropy/explore/?p=0.2+0.3+0.5&q=0.6+0.3+0.1&base=e")
    expect(page.locator("#explorer[data-ready=true]")).to_be_attached()
    slider = page.get_by_role("slider", name="q(2)")
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowUp")

    expect(slider).to_have_attribute("aria-valuenow", "0.1500")
    # the others keep their 2 : 1 proportion and share the rest (each step rounded to 4 places)
    expect(page.locator("#id_q")).to_have_value(re.compile(r"^0\.56\d\d 0\.28\d\d 0\.1500$"))
    assert served(page, page.url) == shown(page)


def test_an_exercise_answered_right_and_wrong_gets_the_right_verdict(tab):
    language, page = tab
    ex = exercises.exercise("kl", 5)
    label, button = ("Your answer", "Check") if language == "en" else ("你的答案", "检查")
    right = "Right: the answer is" if language == "en" else "正确：答案是"
    wrong = "Not quite: you answered" if language == "en" else "不太对：你的答案是"

    page.goto("/losses/kl/?seed=5#exercise")
    page.evaluate("window.__noReload = 'still the same page'")
    section = page.locator("#exercise")
    section.get_by_label(label).fill(f"{ex.answer:.2f}")
    section.get_by_role("button", name=button).click()
    expect(section.locator("[data-verdict]")).to_contain_text(right)
    expect(section.locator(".exercise__steps li")).to_have_count(len(ex.steps))
    assert page.evaluate("window.__noReload") == "still the same page"  # checked in place
    expect(page).to_have_url(re.compile(r"seed=5&answer="))  # and the address shares it

    section.get_by_label(label).fill(f"{ex.answer + 0.1:.2f}")
    section.get_by_role("button", name=button).click()
    expect(section.locator("[data-verdict]")).to_contain_text(wrong)
    expect(section).to_contain_text(f"{ex.answer:.4f}")

    section.get_by_label(label).fill("abc")
    section.get_by_role("button", name=button).click()
    expect(section.get_by_role("alert")).to_be_visible()
    expect(section.locator("[data-verdict]")).to_have_count(0)


def test_typed_distributions_give_the_servers_codes_and_numbers(page, user):
    """explore.js's Huffman codes and divergences are the server's, for awkward distributions too:
    ties, zeros (an infinite KL), near-uniform and very peaked ones."""
    page.goto("/losses/cross-entropy/explore/?p=1+1+1+1+1&q=1+1+1+1+1&base=2")
    expect(page.locator("#explorer[data-ready=true]")).to_be_attached()
    cases = [
        ("0.2 0.2 0.2 0.2 0.2", "0.05 0.05 0.1 0.3 0.5"),
        ("0.97 0.01 0.01 0.005 0.005", "0.3 0.3 0.2 0.1 0.1"),
        ("1 2 3 4 0", "0 4 3 2 1"),
        ("0.3333 0.3333 0.1111 0.1111 0.1112", "0.21 0.19 0.2 0.2 0.2"),
    ]
    for p, q in cases:
        page.locator("#id_p").fill(p)
        page.locator("#id_q").fill(q)
        weights = [float(v) for v in q.split()]
        q0 = format_number(weights[0] / sum(weights))
        expect(page.locator('[data-symbol="0"] [data-cell="q"]')).to_have_text(q0)
        url = "/losses/cross-entropy/explore/?" + urlencode({"p": p, "q": q, "base": "2"})
        html = page.request.get(url).text()
        assert served(page, url) == shown(page), (p, q)
        for which in ("code_p", "code_q"):
            codes = re.findall(rf'data-cell="{which}"><code>([01]+)</code>', html)
            in_page = page.locator(f'[data-cell="{which}"] code').all_inner_texts()
            assert in_page == codes, (p, q, which)


def test_a_finger_drags_a_bar_on_a_phone(browser, live_server, user):
    """touch-action: none on the bars: the page does not scroll away under a finger that drags."""
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 375, "height": 800},
        is_mobile=True,
        has_touch=True,
    )
    try:
        page = context.new_page()
        page.goto("/losses/kl/explore/")
        expect(page.locator("#explorer[data-ready=true]")).to_be_attached()
        bar = page.locator('[data-dist="p"] .explore-hit').nth(3)
        bar.scroll_into_view_if_needed()
        box = bar.bounding_box()
        scrolled = page.evaluate("scrollY")
        cdp = context.new_cdp_session(page)
        x = box["x"] + box["width"] / 2
        for kind, height in [("touchStart", 0.85), ("touchMove", 0.6), ("touchMove", 0.3)]:
            point = {"x": x, "y": box["y"] + box["height"] * height}
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [point]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})

        expect(bar).to_have_attribute("aria-valuenow", re.compile(r"^0\.[6-9]"))  # up from 0.125
        assert page.evaluate("scrollY") == scrolled
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing sticks out
    finally:
        context.close()


def test_without_javascript_the_exercise_and_the_explorer_still_answer(browser, live_server, user):
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, locale="zh-CN"
    )
    try:
        page = context.new_page()
        ex = exercises.exercise("perplexity", 8)
        page.goto("/losses/perplexity/?seed=8#exercise")
        page.locator("#exercise").get_by_label("你的答案").fill(f"{ex.answer:.3f}")
        page.locator("#exercise").get_by_role("button", name="检查").click()
        expect(page.locator("[data-verdict=right]")).to_contain_text(f"{ex.answer:.4f}")

        page.goto("/losses/kl/explore/")
        page.get_by_label("p（符号真正来自的分布）").fill("0.5 0.5")
        page.get_by_label("q（模型，或你所用的编码）").fill("0.9 0.1")
        page.get_by_role("button", name="计算").click()
        expect(page.locator('[data-number="kl_pq"]')).to_have_text(
            "0.7370"
        )  # ½log₂(½/0.9)+½log₂(½/0.1)
        expect(page.locator('[data-number="kl_qp"]')).to_have_text("0.5310")
    finally:
        context.close()


def test_the_temperature_slider_moves_q_and_the_numbers_follow_the_server(tab):
    """q = softmax(z / T) in the page's JavaScript, digit for digit what PyTorch gives the server."""
    language, page = tab
    logits_label, slider_label = (
        ("Or q from logits z", "Temperature T")
        if language == "en"
        else ("或者由 logits z 得到 q", "温度 T")
    )
    page.goto("/losses/kl/explore/?p=0.4+0.3+0.2+0.1&q=1+1+1+1&base=2")
    expect(page.locator("#explorer[data-ready=true]")).to_be_attached()
    page.get_by_label(logits_label).fill("2 1 0.1 -1")
    expect(page.locator("#id_q")).to_have_value("0.6381 0.2347 0.0954 0.0318")  # T = 1
    before = shown(page)

    slider = page.get_by_label(slider_label)
    for temperature in ("0.25", "3.5"):
        slider.fill(temperature)
        expect(page.locator("#temperature-value")).to_have_text(f"{float(temperature):.2f}")
        expect(page).to_have_url(re.compile(rf"temperature={temperature}"))
        assert served(page, page.url) == shown(page), temperature
    assert shown(page)["entropy_q"] > before["entropy_q"]  # hotter: q flatter, more uncertain
    slider.focus()
    page.keyboard.press("ArrowLeft")  # one step of 0.05
    expect(page.locator("#temperature-value")).to_have_text("3.45")
    assert served(page, page.url) == shown(page)
    expect(page.locator("#explore-softmax")).to_contain_text("/ 3.45) = [")

    # dragging a bar of q makes q the reader's own again: the logits let go
    page.get_by_role("slider", name="q(0)").focus()
    page.keyboard.press("ArrowUp")
    expect(page.get_by_label(logits_label)).to_have_value("")
    expect(page.locator("#explore-softmax")).to_be_hidden()
    assert served(page, page.url) == shown(page)
