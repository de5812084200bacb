"""Refusals of bad options and missing fields, and the mistakes page's sentences, in the reader's language.

The API and the pages read options (ignore_index, reduction, label_smoothing…) and fields through
``lossdemos.operations`` and the mistakes through ``lossdemos.mistakes``; a Chinese request gets their
sentences in Chinese with the field names untouched, an English one the same sentences as before.
"""

import pytest
from django.test import Client
from django.utils import translation

from lossdemos import operations
from lossdemos.parsing import TooMany
from lossdemos.presenters import translated
from tests.support.pages import post_loss as post
from tests.support.pages import visible_text as text_of

pytestmark = pytest.mark.django_db

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


@pytest.fixture
def client(user):
    # a fresh install redirects every page to the first-account setup; an account exists here
    return Client()


CROSS_ENTROPY = {"logits": [[1, 2, 3]], "target": [0]}


# --- the API ------------------------------------------------------------------------------------


def test_api_refuses_a_non_integer_ignore_index_in_chinese(client):
    response = post(client, "cross-entropy", {**CROSS_ENTROPY, "ignore_index": "abc"}, **CHINESE)

    assert response.status_code == 422
    assert response.json()["error"] == "ignore_index 必须是整数，而不是 'abc'"
    assert response.json()["field"] == "ignore_index"


def test_api_refuses_a_non_integer_ignore_index_in_english_as_before(client):
    response = post(client, "cross-entropy", {**CROSS_ENTROPY, "ignore_index": "abc"})

    assert response.status_code == 422
    assert response.json()["error"] == "ignore_index must be a whole number, not 'abc'"


@pytest.mark.parametrize(
    ("op", "body", "field", "chinese", "english"),
    [
        ("softmax", {}, "logits", "缺少 logits", "the logits are missing"),
        ("nll", {"input": [[-1, -2]]}, "target", "缺少 target", "the target is missing"),
        # a tensor field named in the singular reads in the singular
        (
            "bce-with-logits",
            {"logits": [0.5]},
            "target",
            "缺少 target",
            "the target is missing",
        ),
        (
            "softmax",
            {"logits": [1, 2], "dim": True},
            "dim",
            "dim 必须是整数",
            "dim must be a whole number",
        ),
        (
            "softmax",
            {"logits": [1, 2], "dim": 2**70},
            "dim",
            "dim 太大了",
            "dim is too large",
        ),
        (
            "cross-entropy",
            {**CROSS_ENTROPY, "label_smoothing": "much"},
            "label_smoothing",
            "label_smoothing 必须是数，而不是 'much'",
            "label_smoothing must be a number, not 'much'",
        ),
        (
            "cross-entropy",
            {**CROSS_ENTROPY, "label_smoothing": True},
            "label_smoothing",
            "label_smoothing 必须是数",
            "label_smoothing must be a number",
        ),
        (
            "cross-entropy",
            {**CROSS_ENTROPY, "label_smoothing": "inf"},
            "label_smoothing",
            "label_smoothing 必须是有限数",
            "label_smoothing must be a finite number",
        ),
        (
            "cross-entropy",
            {**CROSS_ENTROPY, "label_smoothing": 1.5},
            "label_smoothing",
            "label_smoothing 必须在 0 到 1 之间",
            "label_smoothing must be between 0 and 1",
        ),
        (
            "cross-entropy",
            {**CROSS_ENTROPY, "reduction": "avg"},
            "reduction",
            "reduction 必须是以下之一：none, mean, sum，而不是 'avg'",
            "reduction must be one of none, mean, sum, not 'avg'",
        ),
        (
            "kl",
            {"input": [[-1, -0.5]], "target": [[0.3, 0.7]], "log_target": "maybe"},
            "log_target",
            "log_target 必须是 true 或 false",
            "log_target must be true or false",
        ),
        (
            "entropy",
            {"probs": [0.5, 0.5], "counts": [1, 1]},
            "counts",
            "probs、counts、logits 三者只能给一个（实际给了 probs, counts）",
            "give exactly one of probs, counts or logits (got probs, counts)",
        ),
        (
            "entropy",
            {},
            "probs",
            "probs、counts、logits 三者只能给一个",
            "give exactly one of probs, counts or logits",
        ),
    ],
)
def test_api_names_the_field_in_either_language(client, op, body, field, chinese, english):
    in_chinese = post(client, op, body, **CHINESE)
    in_english = post(client, op, body)

    assert in_chinese.status_code == in_english.status_code == 422
    assert in_chinese.json()["error"] == chinese
    assert in_english.json()["error"] == english
    assert in_chinese.json()["field"] == in_english.json()["field"] == field


def test_api_explains_the_step_to_bits_in_chinese(client):
    notes = [
        step.get("note")
        for step in post(client, "cross-entropy", {**CROSS_ENTROPY, "base": "2"}, **CHINESE).json()[
            "steps"
        ]
    ]

    assert "同一个损失，改用以 2 为底的对数来衡量" in notes


def test_too_many_numbers_in_one_request_keeps_its_thousands_separators_in_chinese():
    values = {"logits": [[0.0] * 700], "target": [[0.0] * 700]}  # 1,400 numbers, limit 1,000
    with pytest.raises(TooMany) as caught:
        operations.compute("cross-entropy", values, max_numbers=1_000)

    assert caught.value.message == "too many numbers: 1,400 in this request (limit 1,000)"
    with translation.override("zh-hans"):
        assert translated(caught.value.message) == "数字太多：这个请求里有 1,400 个（上限 1,000）"


# --- the mistakes page --------------------------------------------------------------------------


def mistake(client, mistake_id, fields, **extra):
    query = {"mistake": mistake_id, **{f"{mistake_id}-{k}": v for k, v in fields.items()}}
    return text_of(client.get("/losses/mistakes/", query, **extra))


def test_chinese_mistakes_page_says_which_field_is_missing_in_chinese(client):
    page = mistake(client, "probs-to-nll", {"logits": "", "target": "0 1"}, **CHINESE)

    assert "缺少 logits" in page
    assert "the logits are missing" not in page


def test_english_mistakes_page_says_which_field_is_missing_as_before(client):
    page = mistake(client, "probs-to-nll", {"logits": "", "target": "0 1"})

    assert "the logits are missing" in page


def test_chinese_mistakes_page_shows_a_parsing_error_in_chinese(client):
    page = mistake(client, "log-softmax-underflow", {"logits": "0 x"}, **CHINESE)

    assert "'x' 不是数字（第 2 个）" in page


def test_chinese_mistakes_page_shows_the_engines_refusal_in_chinese(client):
    fields = {
        "logits": "1 2 3\n1 2 3",  # 2-D, but the permuted call needs (N, L, C)
        "target": "0 1",
        "unbatched": "1 2\n3 4",
        "unbatched_target": "0 1",
    }
    chinese = mistake(client, "class-dim", fields, **CHINESE)
    english = mistake(client, "class-dim", fields)

    assert "这个例子需要形状为 (N, L, C) 的 logits；这里的形状是 (2, 3)" in chinese
    assert "this example needs logits shaped" not in chinese
    assert "this example needs logits shaped (N, L, C); these are (2, 3)" in english


def test_chinese_mistakes_page_shows_step_names_and_notes_in_chinese(client):
    page = text_of(client.get("/losses/mistakes/", **CHINESE))

    assert "log(0) = -inf：信息已经丢失" in page
    assert "极小的概率在 float32 中被舍入成恰好 0" in page
    assert "每个序列的困惑度" in page
    assert "短序列与长序列的权重一样大，而且 exp 是凸函数" in page
    # the engine's own step notes on either side, too
    assert "每个样本的损失" in page
    assert "the information is gone" not in page


def test_english_mistakes_page_keeps_the_english_step_notes(client):
    page = text_of(client.get("/losses/mistakes/"))

    assert "log(0) = -inf: the information is gone" in page
    assert "per-sequence perplexity" in page
