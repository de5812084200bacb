"""Exercises: the same seed gives the same numbers, the answers are PyTorch's, the checker has a
tolerance, and a bad answer is a message on the page, never a 500."""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from django.test import Client

from lossdemos import exercises
from lossdemos.views import CONCEPTS
from tests.support.pages import visible_text as text_of

SLUGS = list(exercises.GENERATORS)


@pytest.fixture
def client(user):
    return Client()


def numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+\.\d+", text)]


def test_every_concept_page_has_an_exercise():
    assert set(SLUGS) == set(CONCEPTS)


@pytest.mark.parametrize("slug", SLUGS)
def test_the_same_seed_gives_the_same_exercise_and_another_seed_another(slug):
    assert exercises.exercise(slug, 1234) == exercises.exercise(slug, 1234)
    questions = {exercises.exercise(slug, seed).question for seed in range(20)}
    assert len(questions) > 10


@pytest.mark.parametrize("seed", range(25))
def test_every_answer_is_pytorchs(seed):
    ex = exercises.exercise("softmax", seed)
    z = torch.tensor(numbers(ex.given[0][1]), dtype=torch.float64)
    k = int(re.search(r"class (\d)", ex.question)[1])
    assert ex.answer == pytest.approx(F.softmax(z, 0)[k].item(), abs=1e-12)

    ex = exercises.exercise("cross-entropy", seed)
    z = torch.tensor([numbers(ex.given[0][1])], dtype=torch.float64)
    t = torch.tensor([int(ex.given[1][1])])
    assert ex.answer == pytest.approx(F.cross_entropy(z, t).item(), abs=1e-12)

    ex = exercises.exercise("entropy", seed)
    p = torch.tensor(numbers(ex.given[0][1]), dtype=torch.float64)
    assert p.sum().item() == pytest.approx(1)
    assert ex.answer == pytest.approx(torch.special.entr(p).sum().item() / math.log(2), abs=1e-12)

    ex = exercises.exercise("nll", seed)
    p = torch.tensor([numbers(ex.given[0][1])], dtype=torch.float64).T
    log_p = torch.cat([p.log(), (1 - p).log()], dim=1)  # the right class is column 0
    assert ex.answer == pytest.approx(F.nll_loss(log_p, torch.zeros(3, dtype=torch.long)).item())

    ex = exercises.exercise("kl", seed)
    p = torch.tensor(numbers(ex.given[0][1]), dtype=torch.float64)
    q = torch.tensor(numbers(ex.given[1][1]), dtype=torch.float64)
    assert ex.answer == pytest.approx(F.kl_div(q.log(), p, reduction="sum").item(), abs=1e-12)

    ex = exercises.exercise("perplexity", seed)
    p = torch.tensor(numbers(ex.given[0][1]), dtype=torch.float64)
    assert ex.answer == pytest.approx(torch.exp(-p.log().mean()).item(), abs=1e-12)


def test_the_checker_accepts_a_rounded_answer_and_refuses_a_wrong_one():
    ex = exercises.exercise("kl", 7)
    assert exercises.check(ex, round(ex.answer, 2))
    assert exercises.check(ex, ex.answer + 0.005)
    assert not exercises.check(ex, ex.answer + 0.02)
    assert not exercises.check(ex, -ex.answer - 1)


@pytest.mark.parametrize(
    ("text", "value"), [("0.42", 0.42), ("0,42", 0.42), (".5", 0.5), ("1/4", 0.25), ("０．５", 0.5)]
)
def test_answers_are_read_as_people_type_them(text, value):
    assert exercises.parse_answer(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "  ", "abc", "1/0", "nan", "inf", "1e999"])
def test_an_answer_that_is_not_a_number_is_refused(text):
    with pytest.raises(ValueError, match="number"):
        exercises.parse_answer(text)


@pytest.mark.parametrize("slug", SLUGS)
def test_the_page_checks_a_right_answer_and_shows_the_solution(client, slug):
    ex = exercises.exercise(slug, 4321)
    response = client.get(f"/losses/{slug}/", {"seed": "4321", "answer": f"{ex.answer:.3f}"})
    page = text_of(response)
    assert response.status_code == 200
    assert f"Right: the answer is {ex.answer:.4f}." in page
    assert "Worked solution" in page
    assert ex.steps[-1].math in page


def test_a_wrong_answer_says_so_with_the_answer(client):
    ex = exercises.exercise("entropy", 99)
    response = client.get("/losses/entropy/", {"seed": "99", "answer": "0"})
    assert f"Not quite: you answered 0, the answer is {ex.answer:.4f}." in text_of(response)


@pytest.mark.parametrize("answer", ["abc", ""])
def test_a_bad_answer_is_a_clear_message_not_a_500(client, answer):
    response = client.get("/losses/kl/", {"seed": "5", "answer": answer})
    assert response.status_code == 200
    page = text_of(response)
    assert "Type a number" in page or "is not a number" in page
    assert "Worked solution" not in page


def test_the_chinese_page_asks_in_chinese(client):
    response = client.get(
        "/losses/kl/", {"seed": "5", "answer": "abc"}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    page = text_of(response)
    assert "练习" in page
    assert "不是数字" in page


def test_a_page_without_a_seed_gets_fresh_numbers_and_a_seed_to_share(client):
    first = client.get("/losses/softmax/").content.decode()
    seed = re.search(r'name="seed" value="(\d+)"', first)[1]
    assert f"?seed={seed}#exercise" in first
    assert client.get("/losses/softmax/", {"seed": "not a seed"}).status_code == 200


def test_a_negative_term_of_the_solution_is_subtracted():
    ex = exercises.exercise("kl", 5)  # p = [0.3, 0.3, 0.4], q = [0.1, 0.5, 0.4]
    assert ex.steps[-1].math == "KL(p‖q) = 0.3296 − 0.1532 + 0.0000 = 0.1763"
