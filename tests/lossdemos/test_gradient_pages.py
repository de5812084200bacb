"""The gradient and the training run on the loss pages: autograd beside the closed form, a chart,
the reader's own numbers in the why, and a loss that falls — in English and Chinese."""

import pytest
from django.test import Client

from tests.support.pages import post_loss as post
from tests.support.pages import visible_text

pytestmark = pytest.mark.django_db

CROSS_ENTROPY = "/losses/cross-entropy/?logits=2+1+0.1%0D%0A1+2.5+0.5&target=0+1&reduction=mean"


@pytest.fixture
def site(user):
    return Client()


def test_cross_entropy_gradient_shows_autograd_beside_the_closed_form_and_why(site):
    page = visible_text(site.get(CROSS_ENTROPY + "&grad=on"))

    assert "By autograd" in page
    assert "By the closed form" in page
    # row 0: p = softmax([2, 1, 0.1]) = [0.6590, 0.2424, 0.0986]; mean over 2 rows
    assert "-0.1705" in page.replace("−", "-")
    assert "the target is class 0, which the model gives probability 0.6590" in page
    assert "raises its logit" in page


def test_the_gradient_chart_draws_one_diverging_row_per_example(site):
    response = site.get(CROSS_ENTROPY + "&grad=on")

    assert response.content.decode().count('aria-label="Gradient of row') == 2


def test_nll_gradient_says_why_raw_logits_never_saturate(site):
    page = visible_text(site.get("/losses/nll/?input=2+1+0.1%0D%0A1+2.5+0.5&target=0+1&grad=on"))

    assert "never saturates" in page
    assert "-0.5000" in page.replace("−", "-")


@pytest.mark.parametrize("slug", ["entropy", "kl", "perplexity"])
def test_every_loss_page_can_show_its_gradient(site, slug):
    page = visible_text(site.get(f"/losses/{slug}/?grad=on"))

    assert "By autograd" in page


def test_a_training_run_on_the_page_makes_the_loss_fall(site):
    page = visible_text(site.get(CROSS_ENTROPY + "&steps=20&learning_rate=1"))

    assert "20 steps of gradient descent on the logits with learning rate 1" in page
    assert "the loss went from 0.3617 to" in page


def test_the_chinese_page_shows_the_gradient_and_the_run(site):
    response = site.get(CROSS_ENTROPY + "&grad=on&steps=5", HTTP_ACCEPT_LANGUAGE="zh-hans")
    page = visible_text(response)

    assert "自动求导" in page
    assert "训练" in page


def test_the_train_api_answers_loss_accuracy_and_perplexity_per_step(client):
    body = {"logits": [[0, 0, 0], [0, 0, 0]], "target": [0, 2], "steps": 30, "learning_rate": 2}

    answer = post(client, "train", body).json()

    assert len(answer["loss"]) == 31
    assert answer["loss"][-1] < answer["loss"][0]
    assert answer["accuracy"][-1] == 1.0
    assert answer["perplexity"][0] == pytest.approx(3.0, rel=1e-6)


def test_the_train_api_refuses_more_than_500_steps(client):
    response = post(client, "train", {"logits": [1, 2], "target": 0, "steps": 501})

    assert response.status_code == 422


def test_the_nll_page_trains_its_input_as_logits_through_log_softmax(site):
    # the example's log-probabilities: log_softmax changes nothing, the run starts at the page's loss
    page = visible_text(site.get("/losses/nll/?steps=20"))
    assert "20 steps of gradient descent on the logits with learning rate 1" in page
    assert "the loss went from 0.3617 to" in page
    assert "trains them through log_softmax and nll, which is cross-entropy" in page

    # raw logits given to NLL (source article C): the run trains what cross-entropy would have seen
    raw = "/losses/nll/?input=2+1+0.1%0D%0A1+2.5+0.5&target=0+1&reduction=mean&steps=20"
    page = visible_text(site.get(raw))
    assert "the loss went from 0.3617 to 0.0594" in page  # the cross-entropy page's own run


def test_the_nll_training_run_in_chinese_and_its_bad_input(site):
    response = site.get("/losses/nll/?steps=5", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "它们经过 log_softmax 和 nll" in visible_text(response)
    page = visible_text(site.get("/losses/nll/?steps=501"))
    assert "Ensure this value is less than or equal to 500." in page  # beside the field, no 500
    assert "steps of gradient descent" not in page
