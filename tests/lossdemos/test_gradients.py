"""Every loss op's "grad": equal to torch.autograd of PyTorch's own function (float64, to 1e-6), and
its closed form equal to both — over ops, shapes, weights, smoothing, ignore_index and reductions."""

import math
import os

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.testing import assert_close

from lossdemos import operations, presenters

EXAMPLES = int(os.environ.get("KB_PROPERTY_EXAMPLES", "60"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}


def autograd(x: torch.Tensor, loss_of) -> torch.Tensor:
    leaf = x.clone().requires_grad_(True)
    loss = loss_of(leaf)
    loss.sum().backward()
    return leaf.grad


def agrees(computation, expected: torch.Tensor) -> None:
    gradient = computation.gradient
    assert gradient.value.dtype == torch.float64
    assert_close(gradient.value, expected, **TOLERANCE)
    assert_close(gradient.closed_form, expected, **TOLERANCE)


@st.composite
def classification(draw, *, probabilities_allowed=True):
    """float64 logits of shape (C), (N, C) or (N, C, d1[, d2]); a target; options."""
    dims = draw(st.integers(1, 4))
    classes = draw(st.integers(1, 5)) if dims == 1 else draw(st.integers(2, 5))
    shape = (
        (classes,)
        if dims == 1
        else (
            draw(st.integers(1, 4)),
            classes,
            *tuple(draw(st.integers(1, 3)) for _ in range(dims - 2)),
        )
    )
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    logits = torch.randn(shape, generator=generator, dtype=torch.float64) * draw(
        st.sampled_from([0.5, 2.0, 6.0])
    )
    probability = probabilities_allowed and classes > 1 and draw(st.booleans())
    ignore_index = -100
    if probability:
        target = torch.rand(shape, generator=generator, dtype=torch.float64)
        target = target / target.sum(0 if dims == 1 else 1, keepdim=True)
    else:
        target_shape = () if dims == 1 else (shape[0], *shape[2:])
        target = torch.randint(0, classes, target_shape, generator=generator)
        if dims > 1 and draw(st.booleans()):
            ignore_index = draw(st.sampled_from([-100, 0, classes - 1]))
            target = torch.where(
                torch.rand(target_shape, generator=generator) < 0.3,
                torch.full_like(target, ignore_index),
                target,
            )
            if (target == ignore_index).all():  # keep one counted target: else 0/0
                target.view(-1)[0] = (ignore_index + 1) % classes
    weight = (
        torch.rand(classes, generator=generator, dtype=torch.float64) + 0.1
        if draw(st.booleans())
        else None
    )
    return {
        "logits": logits,
        "target": target,
        "weight": weight,
        "ignore_index": ignore_index,
        "reduction": draw(st.sampled_from(["none", "mean", "sum"])),
        "base": draw(st.sampled_from(["e", "2"])),
    }


def compute(op, case, tensors, **values):
    tensors = {name: value for name, value in tensors.items() if value is not None}
    return operations.compute(op, {**values, "grad": True}, tensors=tensors)


@SETTINGS
@given(classification(), st.sampled_from([0.0, 0.0, 0.1, 0.5]))
def test_cross_entropy_grad_is_autograd(case, smoothing):
    computation = compute(
        "cross-entropy",
        case,
        {"logits": case["logits"], "target": case["target"], "weight": case["weight"]},
        ignore_index=case["ignore_index"],
        label_smoothing=smoothing,
        reduction=case["reduction"],
        base=case["base"],
    )

    scale = 1 / math.log(2) if case["base"] == "2" else 1.0
    expected = autograd(
        case["logits"],
        lambda z: (
            F.cross_entropy(
                z,
                case["target"],
                weight=case["weight"],
                ignore_index=case["ignore_index"],
                label_smoothing=smoothing,
                reduction=case["reduction"],
            )
            * scale
        ),
    )
    agrees(computation, expected)


@SETTINGS
@given(classification(probabilities_allowed=False))
def test_nll_grad_is_autograd(case):
    class_dim = 0 if case["logits"].dim() == 1 else 1
    log_probs = F.log_softmax(case["logits"], dim=class_dim)
    computation = compute(
        "nll",
        case,
        {"input": log_probs, "target": case["target"], "weight": case["weight"]},
        ignore_index=case["ignore_index"],
        reduction=case["reduction"],
        base=case["base"],
    )

    scale = 1 / math.log(2) if case["base"] == "2" else 1.0
    expected = autograd(
        log_probs,
        lambda x: (
            F.nll_loss(
                x,
                case["target"],
                weight=case["weight"],
                ignore_index=case["ignore_index"],
                reduction=case["reduction"],
            )
            * scale
        ),
    )
    agrees(computation, expected)


@SETTINGS
@given(
    classification(probabilities_allowed=False),
    st.sampled_from(["none", "mean", "sum", "batchmean"]),
    st.booleans(),
)
def test_kl_grad_is_autograd(case, reduction, log_target):
    log_q = F.log_softmax(case["logits"], dim=-1)
    p = F.softmax(case["logits"].flip(-1) * 0.5, dim=-1)
    target = p.log() if log_target else p
    computation = compute(
        "kl",
        case,
        {"input": log_q, "target": target},
        reduction=reduction,
        log_target=log_target,
        base=case["base"],
    )

    scale = 1 / math.log(2) if case["base"] == "2" else 1.0
    divisor = {"mean": log_q.numel(), "batchmean": log_q.shape[0]}.get(reduction, 1)
    expected = autograd(
        log_q,
        lambda x: F.kl_div(x, target, reduction="sum", log_target=log_target) / divisor * scale,
    )
    agrees(computation, expected)


@SETTINGS
@given(classification(probabilities_allowed=False), st.booleans(), st.booleans())
def test_bce_with_logits_grad_is_autograd(case, weighted, pos_weighted):
    z = case["logits"]
    generator = torch.Generator().manual_seed(7)
    target = torch.rand(z.shape, generator=generator, dtype=torch.float64)
    weight = (
        torch.rand(z.shape[-1:], generator=generator, dtype=torch.float64) if weighted else None
    )
    pos_weight = (
        torch.rand(z.shape[-1:], generator=generator, dtype=torch.float64) + 0.5
        if pos_weighted
        else None
    )
    computation = compute(
        "bce-with-logits",
        case,
        {"logits": z, "target": target, "weight": weight, "pos_weight": pos_weight},
        reduction=case["reduction"],
        base=case["base"],
    )

    scale = 1 / math.log(2) if case["base"] == "2" else 1.0
    expected = autograd(
        z,
        lambda x: (
            F.binary_cross_entropy_with_logits(
                x, target, weight=weight, pos_weight=pos_weight, reduction=case["reduction"]
            )
            * scale
        ),
    )
    agrees(computation, expected)


@SETTINGS
@given(classification(probabilities_allowed=False))
def test_perplexity_grad_is_autograd(case):
    z = case["logits"].reshape(-1, case["logits"].shape[-1])
    generator = torch.Generator().manual_seed(3)
    target = torch.randint(0, z.shape[1], (z.shape[0],), generator=generator)
    computation = compute("perplexity", case, {"logits": z, "target": target}, base=case["base"])

    expected = autograd(z, lambda x: F.cross_entropy(x, target).exp())
    agrees(computation, expected)


@SETTINGS
@given(classification(probabilities_allowed=False), st.sampled_from(["probs", "counts", "logits"]))
def test_entropy_grad_is_autograd(case, source):
    z = case["logits"]
    x = z if source == "logits" else F.softmax(z, dim=-1) * (5.0 if source == "counts" else 1.0)
    computation = compute("entropy", case, {source: x}, base=case["base"])

    scale = 1 / math.log(2) if case["base"] == "2" else 1.0

    def entropy_of(leaf):
        p = F.softmax(leaf, dim=-1) if source == "logits" else leaf / leaf.sum(-1, keepdim=True)
        return -(p * p.log()).sum(-1) * scale

    agrees(computation, autograd(x, entropy_of))


def test_grad_keeps_float32_for_float32_input():
    computation = operations.compute(
        "cross-entropy", {"logits": "2 1 0.1", "target": "0", "grad": True}
    )

    assert computation.gradient.value.dtype == torch.float32
    assert_close(
        computation.gradient.value,
        torch.softmax(torch.tensor([2, 1, 0.1]), 0) - torch.tensor([1.0, 0, 0]),
    )


@pytest.mark.django_db
def test_the_api_answers_grad_beside_its_closed_form(client):
    from tests.support.pages import post_loss

    body = {"logits": [[2, 1, 0.1], [1, 2.5, 0.5]], "target": [0, 1], "grad": True}

    answer = post_loss(client, "cross-entropy", body).json()

    p = torch.softmax(torch.tensor(body["logits"]), 1)
    expected = (p - F.one_hot(torch.tensor([0, 1]), 3)) / 2
    assert_close(torch.tensor(answer["grad"]), expected, rtol=0, atol=1e-6)
    assert_close(torch.tensor(answer["grad_closed_form"]), expected, rtol=0, atol=1e-6)
    assert "p_{n,c}" in answer["grad_formula"]


def test_json_answer_has_no_grad_unless_asked():
    computation = operations.compute("nll", {"input": "-0.5 -1", "target": "0"})

    assert "grad" not in presenters.json_answer(computation)
