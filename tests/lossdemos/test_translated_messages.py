"""The engine's sentences (step notes, warnings, input errors) follow the page's language."""

import pytest
from django.test import Client

from kb.messages import Text, gettext_noop
from tests.support.pages import post_loss as post
from tests.support.pages import visible_text as text_of

pytestmark = pytest.mark.django_db

KL_MEAN = {"input": "-1 -0.5", "target": "0.3 0.7", "reduction": "mean"}


@pytest.fixture
def client(user):
    # a fresh install redirects every page to the first-account setup; an account exists here
    return Client()


def test_a_text_is_its_english_sentence_and_keeps_its_template():
    text = Text.of(gettext_noop("%(loss)s expects log_softmax output"), loss="NLLLoss")

    assert text == "NLLLoss expects log_softmax output"
    assert isinstance(text, str)
    assert text.template == "%(loss)s expects log_softmax output"
    assert text.params == {"loss": "NLLLoss"}


def test_chinese_kl_page_shows_pytorchs_mean_warning_in_chinese(client):
    page = text_of(client.get("/losses/kl/", KL_MEAN, HTTP_ACCEPT_LANGUAGE="zh-CN"))

    assert "'batchmean' 只除以批大小" in page
    assert "'batchmean' divides only by the batch size" not in page


def test_chinese_kl_page_shows_the_step_notes_in_chinese(client):
    page = text_of(client.get("/losses/kl/", KL_MEAN, HTTP_ACCEPT_LANGUAGE="zh-CN"))

    assert "input：模型的对数概率" in page
    assert "mean 除以全部元素个数" in page


def test_chinese_nll_page_warns_about_probabilities_with_the_loss_name_filled_in(client):
    query = {"input": "0.2 0.8\n0.6 0.4", "target": "1 0"}
    page = text_of(client.get("/losses/nll/", query, HTTP_ACCEPT_LANGUAGE="zh-CN"))

    assert "input 看起来是概率，而不是对数概率：NLLLoss 需要的是 log_softmax 的输出" in page


def test_a_located_warning_translates_its_location_too(client):
    query = {"given": "probs", "numbers": "0.5 0.6\n0.5 0.5"}
    page = text_of(client.get("/losses/entropy/", query, HTTP_ACCEPT_LANGUAGE="zh-CN"))

    assert "probs 每行之和应为 1，但有一行的和是 1.1（位置 [0]）" in page


def test_english_page_keeps_the_english_warning(client):
    page = text_of(client.get("/losses/kl/", KL_MEAN, HTTP_ACCEPT_LANGUAGE="en"))

    assert "'batchmean' divides only by the batch size" in page
    assert "the input: log-probabilities of the model" in page


def test_api_answers_warnings_and_notes_in_the_requested_language(client):
    body = {"input": [[-1, -0.5]], "target": [[0.3, 0.7]], "reduction": "mean"}

    chinese = post(client, "kl", body, HTTP_ACCEPT_LANGUAGE="zh").json()
    english = post(client, "kl", body).json()

    assert any("'batchmean' 只除以批大小" in warning for warning in chinese["warnings"])
    assert "input：模型的对数概率" in [step.get("note") for step in chinese["steps"]]
    assert any("'batchmean' divides only" in warning for warning in english["warnings"])
    assert "the input: log-probabilities of the model" in [
        step.get("note") for step in english["steps"]
    ]


def test_api_answers_a_located_input_error_in_chinese(client):
    response = post(client, "softmax", {"logits": "1 2 3\n4 5"}, HTTP_ACCEPT_LANGUAGE="zh")

    assert response.status_code == 422
    assert response.json()["error"] == "第 2 行有 2 个值，其他行有 3 个"
    assert response.json()["field"] == "logits"


def test_api_answers_a_loss_error_in_chinese_with_its_values(client):
    body = {"logits": [[1, 2, 3]], "target": [7]}
    response = post(client, "cross-entropy", body, HTTP_ACCEPT_LANGUAGE="zh-CN")

    assert response.status_code == 422
    assert response.json()["error"] == (
        "目标 7 超出了 3 个类别的范围（有效值：0–2，或 ignore_index -100）"
    )


def test_api_errors_stay_english_without_accept_language(client):
    ragged = post(client, "softmax", {"logits": "1 2 3\n4 5"})
    out_of_range = post(client, "cross-entropy", {"logits": [[1, 2, 3]], "target": [7]})

    assert ragged.json()["error"] == "row 2 has 2 values, the others have 3"
    assert out_of_range.json()["error"] == (
        "target 7 is out of range for 3 classes (valid: 0–2, or ignore_index -100)"
    )


def test_chinese_coin_demo_names_the_bad_outcome_in_chinese(client):
    query = {"outcomes": "1 0 x 1"}
    page = text_of(client.get("/losses/nll/", query, HTTP_ACCEPT_LANGUAGE="zh-CN"))

    assert "'x' 不是数字（第 3 个）" in page


def test_chinese_cross_entropy_page_shows_a_ragged_row_error_in_chinese(client):
    page = text_of(
        client.get(
            "/losses/cross-entropy/",
            {"logits": "2 1 0.1\n1 2.5", "target": "0 1"},
            HTTP_ACCEPT_LANGUAGE="zh-CN",
        )
    )
    assert "第 2 行有 2 个值" in page


def test_english_cross_entropy_page_keeps_the_english_ragged_row_error(client):
    page = text_of(
        client.get("/losses/cross-entropy/", {"logits": "2 1 0.1\n1 2.5", "target": "0 1"})
    )
    assert "row 2 has 2 values" in page
