"""Distributions you can move, without a browser: the form computes PyTorch's numbers, the Huffman
codes are optimal whole-bit codes, and bad input is a located message with a 400, never a 500."""

import math

import pytest
import torch
import torch.nn.functional as F
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from lossdemos import coding
from lossdemos.explore import format_number
from tests.support.pages import visible_text as text_of


@pytest.fixture
def client(user):
    return Client()


# --- Huffman ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("probabilities", "lengths"),
    [
        ([0.5, 0.25, 0.125, 0.125], [1, 2, 3, 3]),  # colah's example: lengths are −log₂ p exactly
        ([0.25] * 4, [2, 2, 2, 2]),
        ([0.4, 0.3, 0.2, 0.1], [1, 2, 3, 3]),
        ([0.9, 0.1], [1, 1]),
        ([1.0], [1]),
    ],
)
def test_huffman_lengths_of_known_distributions(probabilities, lengths):
    assert coding.huffman_lengths(probabilities) == lengths


def test_huffman_code_is_prefix_free():
    codes = coding.huffman_code([0.3, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05])
    for a in codes:
        for b in codes:
            assert a == b or not b.startswith(a)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.001, max_value=1.0), min_size=2, max_size=8))
def test_huffman_average_length_is_within_one_bit_of_the_entropy(weights):
    total = sum(weights)
    p = [w / total for w in weights]
    entropy = sum(-x * math.log2(x) for x in p)
    average = coding.average_length(p, coding.huffman_lengths(p))
    assert entropy - 1e-9 <= average < entropy + 1
    assert sum(2.0**-length for length in coding.huffman_lengths(p)) == pytest.approx(1)  # Kraft


def test_format_number_rounds_ties_as_javascripts_to_fixed():
    assert format_number(0.03125) == "0.0313"  # Python's own rounding gives 0.0312
    assert format_number(-1e-17) == "0.0000"
    assert format_number(math.inf) == "∞"


# --- the page -----------------------------------------------------------------------------------


def numbers_on(page: str) -> dict[str, str]:
    import re

    return dict(re.findall(r'data-number="(\w+)">([^<]+)<', page))


@pytest.mark.parametrize("slug", ["entropy", "cross-entropy", "kl"])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_each_explorer_renders(client, slug, language):
    response = client.get(f"/losses/{slug}/explore/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert 'data-number="kl_qp"' in response.content.decode()


def test_the_form_shows_pytorchs_numbers_in_both_directions(client):
    response = client.get("/losses/kl/explore/", {"p": "0.7 0.2 0.1", "q": "2 1 1", "base": "e"})
    shown = numbers_on(response.content.decode())

    p = torch.tensor([0.7, 0.2, 0.1], dtype=torch.float64)
    q = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    m = (p + q) / 2
    kl = lambda a, b: F.kl_div(b.log(), a, reduction="sum").item()  # noqa: E731
    assert shown["kl_pq"] == f"{kl(p, q):.4f}"
    assert shown["kl_qp"] == f"{kl(q, p):.4f}"
    assert shown["js"] == f"{(kl(p, m) + kl(q, m)) / 2:.4f}"
    assert shown["entropy_p"] == f"{torch.special.entr(p).sum().item():.4f}"


def test_the_gap_between_the_codes_is_the_kl_divergence(client):
    response = client.get(
        "/losses/entropy/explore/", {"p": "0.5 0.25 0.125 0.125", "q": "0.1 0.2 0.3 0.4"}
    )
    page = text_of(response)
    assert "H(p, q) − H(p) = KL(p‖q) = 0.8738" in page  # Σ p log₂(p/q)
    assert "1.7500 bits ≥ H(p) = 1.7500" in page  # Huffman is exact for powers of ½


def test_q_of_zero_where_p_is_not_makes_kl_infinite(client):
    response = client.get("/losses/kl/explore/", {"p": "0.5 0.5", "q": "1 0", "base": "2"})
    shown = numbers_on(response.content.decode())
    assert shown["kl_pq"] == "∞"
    assert shown["kl_qp"] == "1.0000"


@pytest.mark.parametrize(
    ("p", "q", "message"),
    [
        ("abc 1", "1 1", "“abc” is not a number."),
        ("", "1 1", "This field is required."),
        ("1 -1", "1 1", "every value must be a finite number ≥ 0"),
        ("0 0", "1 1", "At least one value must be above 0."),
        ("1 2 3", "1 1", "q has 2 values and p has 3"),
        ("1", "1", "Enter between 2 and 8 numbers (you entered 1)."),
        ("1 " * 9, "1 1", "Enter between 2 and 8 numbers (you entered 9)."),
        ("1 " * 400, "1 1", "Ensure this value has at most 500 characters (it has 799)."),
    ],
)
def test_bad_input_is_a_message_not_a_500(client, p, q, message):
    response = client.get("/losses/kl/explore/", {"p": p, "q": q, "base": "2"})
    assert response.status_code == 400
    assert message in text_of(response)


def test_only_three_concepts_have_an_explorer(client):
    assert client.get("/losses/softmax/explore/").status_code == 404


# --- q from logits and a temperature ----------------------------------------------------------


@pytest.mark.parametrize("temperature", ["0.25", "1", "3.5"])
def test_logits_and_a_temperature_make_q_as_pytorch_does(client, temperature):
    logits = [2.0, 1.0, 0.1, -1.0]
    response = client.get(
        "/losses/kl/explore/",
        {
            "p": "0.4 0.3 0.2 0.1",
            "q": "1 1 1 1",
            "logits": "2 1 0.1 -1",
            "temperature": temperature,
            "base": "e",
        },
    )
    assert response.status_code == 200
    q = torch.softmax(torch.tensor(logits, dtype=torch.float64) / float(temperature), dim=0)
    p = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
    shown = numbers_on(response.content.decode())
    assert shown["kl_pq"] == format_number(F.kl_div(q.log(), p, reduction="sum").item())
    assert shown["entropy_q"] == format_number(torch.special.entr(q).sum().item())
    page = text_of(response)
    assert (
        f"/ {float(temperature):.2f}) = [{', '.join(format_number(v) for v in q.tolist())}]" in page
    )
    # the q field shows the q the logits made, not the 1 1 1 1 typed before
    assert f'value="{" ".join(format_number(v) for v in q.tolist())}"' in response.content.decode()


@pytest.mark.parametrize(
    ("logits", "temperature", "message"),
    [
        ("1 x 3", "1", "“x” is not a number."),
        ("1 inf 3", "1", "every logit must be a finite number"),
        ("1 2", "1", "There are 2 logits and p has 3 values"),
        ("1 2 3", "0", "Ensure this value is greater than or equal to 0.05."),
        ("1 2 3", "hot", "Enter a number."),
    ],
)
def test_bad_logits_or_temperature_are_a_message_not_a_500(client, logits, temperature, message):
    response = client.get(
        "/losses/kl/explore/",
        {"p": "1 1 1", "q": "1 1 1", "logits": logits, "temperature": temperature},
    )
    assert response.status_code == 400
    assert message in text_of(response)


def test_without_logits_q_is_required_and_the_slider_starts_at_one(client):
    response = client.get("/losses/kl/explore/", {"p": "1 1", "q": ""})
    assert response.status_code == 400
    assert "This field is required." in text_of(response)
    page = client.get("/losses/kl/explore/").content.decode()
    assert 'type="range" name="temperature"' in page
    assert 'value="1.00"' in page
