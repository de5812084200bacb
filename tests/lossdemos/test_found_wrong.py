"""Issue 13's "Found wrong": each item as a user meets it, through the API or a page."""

import io
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from django.test import Client

from lossdemos import operations, presenters
from lossdemos.views import CONCEPTS
from tests.support.pages import post_loss as post
from tests.support.pages import visible_text

pytestmark = pytest.mark.django_db


def run_snippet(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


def npy(array, name):
    buffer = io.BytesIO()
    np.save(buffer, array)
    buffer.seek(0)
    buffer.name = name
    return buffer


# --- the snippet in bits ------------------------------------------------------------------------


def test_the_snippet_prints_bits_when_the_answer_is_in_bits(client):
    body = {"logits": [2, 1, 0.1], "target": 0, "base": "2"}

    answer = post(client, "cross-entropy", body).json()

    assert answer["result"] == pytest.approx(0.6016, abs=5e-5)
    printed = run_snippet(answer["code"])
    assert "0.6016" in printed


# --- float64 end to end -------------------------------------------------------------------------


def test_a_float64_npy_is_computed_in_float64_and_the_snippet_keeps_the_dtype(client):
    logits = np.array([[1e-9, 0.0, 0.0]], dtype=np.float64)
    response = client.post(
        "/api/losses/softmax", {"logits": npy(logits, "logits.npy")}, format="multipart"
    )

    answer = response.json()
    expected = F.softmax(torch.from_numpy(logits), dim=-1)
    assert answer["result"][0] == [float(v) for v in expected[0]]
    assert "dtype=torch.float64" in answer["code"]


def test_pasted_float64_text_is_computed_in_float64(client):
    text = "tensor([1.0000000001, 0.0, 0.0], dtype=torch.float64)"

    answer = post(client, "softmax", {"logits": text}).json()

    expected = F.softmax(torch.tensor([1.0000000001, 0.0, 0.0], dtype=torch.float64), dim=-1)
    assert answer["result"] == expected.tolist()
    assert "dtype=torch.float64" in answer["code"]


def test_float32_stays_the_default(client):
    answer = post(client, "softmax", {"logits": [1.0000000001, 0, 0]}).json()

    assert answer["result"] == F.softmax(torch.tensor([1.0000000001, 0, 0]), -1).double().tolist()
    assert "float64" not in answer["code"]


# --- chart labels -------------------------------------------------------------------------------


def results_for(op, values):
    return presenters.page_results(operations.compute(op, values))


def test_softmax_probabilities_are_not_drawn_as_losses():
    results = results_for("softmax", {"logits": "2 1 0.1\n1 2.5 0.5"})

    assert results["loss_chart"] is None


def test_label_smoothing_bars_show_the_smoothed_losses():
    values = {"logits": "2 1 0.1\n1 2.5 0.5", "target": "0 1", "label_smoothing": "0.2"}
    results = results_for("cross-entropy", {**values, "reduction": "mean"})

    expected = F.cross_entropy(
        torch.tensor([[2, 1, 0.1], [1, 2.5, 0.5]]),
        torch.tensor([0, 1]),
        label_smoothing=0.2,
        reduction="none",
    )
    bars = [bar.value for bar in results["loss_chart"].bars]
    assert bars == [presenters.format_number(v) for v in expected.tolist()]


def test_probability_targets_give_one_bar_per_row():
    values = {"logits": "2 1 0.1\n1 2.5 0.5", "target": "0.7 0.2 0.1\n0 1 0"}

    results = results_for("cross-entropy", values)

    assert len(results["loss_chart"].bars) == 2
    assert results["loss_chart_kind"] == "element"


def test_kl_none_labels_its_bars_as_element_terms():
    values = {"input": "-0.4 -1.4 -2.3\n-1.8 -0.3 -2.3", "target": "0.7 0.2 0.1\n0.1 0.8 0.1"}

    results = results_for("kl", {**values, "reduction": "none"})

    assert results["loss_chart_kind"] == "kl_element"


@pytest.mark.parametrize("op", ["entropy", "perplexity"])
def test_entropy_and_perplexity_charts_are_in_bits_in_bits_mode(op):
    if op == "entropy":
        values = {"probs": "0.5 0.5\n0.9 0.1", "base": "2"}
        expected = ["1.0000", "0.4690"]
    else:
        values = {"logits": "0 0\n1 0", "target": "0 0", "base": "2"}
        expected = ["1.0000", presenters.format_number(math.log2(1 + math.exp(-1)))]

    results = results_for(op, values)

    assert [bar.value for bar in results["loss_chart"].bars] == expected


# --- entropy near 1 -----------------------------------------------------------------------------


@pytest.mark.parametrize("probs", ["1.0009", "0.3334 0.3334 0.3334"])
def test_probabilities_nearly_summing_to_1_are_normalised_with_a_warning(probs):
    computation = operations.compute("entropy", {"probs": probs})
    count = len(probs.split())

    assert float(computation.trace.result) <= math.log(count) + 1e-7
    assert float(computation.trace.result) >= 0
    assert any("divided by its sum" in str(w) for w in computation.trace.warnings)


# --- KL batchmean on 1-D ------------------------------------------------------------------------


def test_kl_batchmean_on_1d_divides_as_pytorch_and_says_so():
    values = {"input": "-0.4 -1.4 -2.3", "target": "0.7 0.2 0.1", "reduction": "batchmean"}

    computation = operations.compute("kl", values)

    expected = F.kl_div(
        torch.tensor([-0.4, -1.4, -2.3]), torch.tensor([0.7, 0.2, 0.1]), reduction="batchmean"
    )
    assert float(computation.trace.result) == pytest.approx(float(expected))
    note = str(computation.trace.step("denominator").note)
    assert "1-D" in note


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4)])
def test_kl_mean_formula_counts_every_element(shape):
    x = torch.randn(shape).log_softmax(-1)
    values = {"input": x.tolist(), "target": x.exp().tolist(), "reduction": "mean"}

    computation = operations.compute("kl", values)

    denominator = computation.trace.step("denominator")
    assert "N" not in denominator.formula or len(shape) == 2
    assert float(denominator.value) == x.numel()


# --- warnings -----------------------------------------------------------------------------------


def warnings_of(op, values):
    return [str(presenters.warning_text(w)) for w in operations.compute(op, values).trace.warnings]


def test_a_plus_inf_logit_is_not_called_every_logit_minus_inf():
    warnings = warnings_of("cross-entropy", {"logits": "inf 0 0", "target": "0"})

    assert not any("every logit -inf" in w for w in warnings)
    assert any("+inf" in w for w in warnings)


def test_a_huge_finite_logit_is_not_called_minus_inf():
    warnings = warnings_of("cross-entropy", {"logits": "3e38 -3e38 0", "target": "1"})

    assert not any("its logit is -inf" in w for w in warnings)


def test_log_target_minus_inf_does_not_blame_log_q():
    values = {"input": "-0.5 -1 -2", "target": "-inf -0.1 -2.4", "log_target": "true"}

    warnings = warnings_of("kl", values)

    assert not any("log q = -inf" in w for w in warnings)


def test_zero_total_weight_warns_of_nan():
    values = {"logits": "1 2\n3 4", "target": "0 0", "weight": "0 1"}

    computation = operations.compute("cross-entropy", values)

    assert math.isnan(float(computation.trace.result))
    assert any("weight" in str(w) and "nan" in str(w) for w in computation.trace.warnings)


def test_kl_with_p_positive_where_q_is_zero_warns_of_inf():
    values = {"input": "0 -inf", "target": "0.5 0.5", "reduction": "sum"}

    computation = operations.compute("kl", values)

    assert float(computation.trace.result) == math.inf
    assert any("inf" in str(w) for w in computation.trace.warnings)


def test_no_examples_are_answered_as_pytorch_answers(client):
    expected = F.cross_entropy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))

    response = client.post(
        "/api/losses/cross-entropy",
        {
            "logits": npy(np.zeros((0, 3), np.float32), "logits.npy"),
            "target": npy(np.zeros((0,), np.int64), "target.npy"),
        },
        format="multipart",
    )
    assert response.status_code == 200, response.json()
    assert math.isnan(expected)
    assert response.json()["result"] == "NaN"


def test_one_logit_with_target_0_is_a_class_index():
    computation = operations.compute("cross-entropy", {"logits": "3", "target": "0"})

    assert float(computation.trace.result) == 0.0
    assert computation.trace.step("picked").value.dim() == 0  # a class index, not probabilities


# --- routes, rows, defaults ---------------------------------------------------------------------


def test_the_log_softmax_op_has_a_route(client):
    answer = post(client, "log-softmax", {"logits": [2, 1, 0.1]})

    assert answer.status_code == 200
    assert answer.json()["result"] == pytest.approx(
        F.log_softmax(torch.tensor([2, 1, 0.1]), -1).tolist()
    )


def test_probability_targets_typed_as_rows_separated_by_semicolons():
    values = {"logits": "2 1 0.1; 1 2.5 0.5", "target": "0.7 0.2 0.1; 0 1 0"}

    computation = operations.compute("cross-entropy", {**values, "logits": "2 1 0.1\n1 2.5 0.5"})

    expected = F.cross_entropy(
        torch.tensor([[2, 1, 0.1], [1, 2.5, 0.5]]), torch.tensor([[0.7, 0.2, 0.1], [0, 1, 0]])
    )
    assert float(computation.trace.result) == pytest.approx(float(expected))


@pytest.mark.parametrize("slug", ["nll", "cross-entropy"])
def test_the_default_reduction_is_mean_as_in_pytorch(slug):
    assert CONCEPTS[slug].example["reduction"] == "mean"


# --- text ---------------------------------------------------------------------------------------


@pytest.fixture
def site(user):
    return Client()


@pytest.mark.parametrize(
    ("slug", "language", "wrong"),
    [
        ("perplexity", "en", "punishes near-misses"),
        ("perplexity", "zh-hans", "差一点就猜中"),
        ("kl", "en", "three times smaller"),
        ("kl", "zh-hans", "小了三倍"),
        ("softmax", "en", "the calculator beside this text starts with them"),
        ("entropy", "en", "average number of yes/no questions"),
    ],
)
def test_wrong_sentences_are_gone(site, slug, language, wrong):
    page = visible_text(site.get(f"/losses/{slug}/", HTTP_ACCEPT_LANGUAGE=language))

    assert wrong not in page


def test_probability_target_mean_is_not_said_to_divide_by_the_elements(site):
    page = visible_text(site.get("/losses/cross-entropy/"))

    assert "always divides by the number of elements" not in page
