r"""Kullback–Leibler divergence as ``F.kl_div`` computes it, with its four reductions and the
warnings for the classic mistakes (probabilities given as ``input``, ``reduction='mean'``)."""

from __future__ import annotations

import math
from typing import Any

import torch

from kb.messages import Text, gettext_noop
from lossdemos.losses.checks import (
    any_above,
    any_below,
    any_equal,
    check_reduction,
    finite_max,
    has_nan,
    kl_input,
    sum_off_one,
    target_like,
    where_text,
)
from lossdemos.losses.snippets import call_snippet
from lossdemos.losses.trace import Trace, Working

__all__ = ["KL_MEAN_WARNING", "kl"]

# PyTorch's UserWarning for kl_div(reduction='mean'), with the spaces between its sentences restored.
KL_MEAN_WARNING = gettext_noop(
    "reduction: 'mean' divides the total loss by both the batch size and the support size. "
    "'batchmean' divides only by the batch size, and aligns with the KL div math definition. "
    "'mean' will be changed to behave the same as 'batchmean' in the next major release."
)


@torch.no_grad()
def kl(input: Any, target: Any, *, log_target: bool = False, reduction: str = "mean") -> Trace:
    r"""Kullback–Leibler divergence :math:`D_{KL}(p \,\|\, q)` as ``F.kl_div`` computes it.

    .. math::
        \ell_i = p_i \,(\log p_i - \log q_i) \quad (0 \log 0 = 0),
        \qquad \text{batchmean} = \frac{1}{N} \sum_i \ell_i

    ``input`` is :math:`\log q` (log-probabilities, e.g. ``log_softmax`` output); ``target`` is
    :math:`p`, or :math:`\log p` with ``log_target=True`` (then :math:`\ell = e^{\log p}(\log p -
    \log q)`). Reductions: 'none', 'sum', 'batchmean' (sum / N: the true KL divergence per example)
    and 'mean' (sum / number of elements — PyTorch warns about it, and so does the trace).
    Equals ``kldivloss_reference``.

    Steps: ``log_q``, ``p``, ``log_p``, ``pointwise``, then ``total`` and ``denominator`` for
    'mean'/'batchmean', and ``loss``.
    """
    log_q = kl_input(input)
    reduction = check_reduction(reduction, ("none", "mean", "sum", "batchmean"))
    t = target_like(target, log_q, "input")
    log_target = bool(log_target)
    work = Working()
    _kl_warnings(work, log_q, t, log_target, reduction)
    work.step(
        "log_q", r"\log q_i", log_q, gettext_noop("the input: log-probabilities of the model")
    )
    # pointwise is computed as ATen's kl_div computes its output, so the result below is reduced
    # from this step's tensor (bit for bit F.kl_div, as the tests check) instead of recomputed;
    # subtracting in place saves a full-size temporary and rounds exactly as a - b does.
    if log_target:
        p = work.step("p", r"p_i = e^{\log p_i}", t.exp())
        work.step("log_p", r"\log p_i", t, gettext_noop("the target, given as log-probabilities"))
        pointwise = p * (t - log_q)
    else:
        work.step("p", r"p_i", t, gettext_noop("the target distribution"))
        work.step("log_p", r"\log p_i", t.log(), gettext_noop("-inf where p_i = 0"))
        pointwise = torch.special.xlogy(t, t).sub_(t * log_q)
    pointwise = work.step(
        "pointwise",
        r"\ell_i = p_i (\log p_i - \log q_i)",
        pointwise,
        gettext_noop("0 where p_i = 0 (0 log 0 = 0); negative where q_i > p_i"),
    )
    result = _reduce(work, pointwise, log_q, t, reduction, log_target)
    code = call_snippet(
        "F.kl_div",
        [("log_q", log_q), ("log_p" if log_target else "p", t)],
        reduction=reduction,
        log_target=log_target,
    )
    return work.trace(result, code)


def _reduce(
    work: Working,
    pointwise: torch.Tensor,
    log_q: torch.Tensor,
    t: torch.Tensor,
    reduction: str,
    log_target: bool,
) -> torch.Tensor:
    """F.kl_div's own reduction of the pointwise terms, and the steps that show it.

    ATen's kl_div reduces its output with sum() or mean(), and F.kl_div divides the sum by
    input.size(0) for 'batchmean'. (Calling F.kl_div would recompute every term and, for 'mean',
    call warnings.warn, which is not thread-safe to silence.)
    """
    total = pointwise.sum() if reduction != "none" else None
    _nan_terms_warning(work, pointwise, total, log_q, t, log_target)
    _infinite_terms_warning(work, pointwise, total, log_q)
    if total is None:
        return work.step("loss", r"\ell_i", pointwise)
    if reduction == "sum":
        return work.step("loss", r"\sum_i \ell_i", total)
    work.step("total", r"\sum_i \ell_i", total)
    if reduction == "batchmean":
        count = log_q.shape[0]
        if log_q.dim() == 1:
            symbol = "C"
            note = gettext_noop(
                "batchmean divides by input.size(0), which for 1-D input is the number of classes "
                "C, not a batch size: PyTorch does so too, so this is not the KL of the one "
                "example (use reduction 'sum' for that)"
            )
        else:
            symbol = "N"
            note = gettext_noop(
                "batchmean divides by the batch size N = input.size(0): the KL per example"
            )
        result = total / count
    else:
        count = log_q.numel()
        symbol = {1: "C", 2: r"N \cdot C"}.get(log_q.dim(), r"\text{numel}")
        note = gettext_noop(
            "mean divides by every element (batch × support), which is not the KL divergence"
        )
        result = pointwise.mean()
    denominator = work.step(
        "denominator", symbol, torch.tensor(float(count), dtype=log_q.dtype), note
    )
    work.step("loss", r"\frac{1}{" + symbol + r"} \sum_i \ell_i", total / denominator)
    return result


def _kl_warnings(
    work: Working, log_q: torch.Tensor, t: torch.Tensor, log_target: bool, reduction: str
) -> None:
    if reduction == "mean":
        work.warn(KL_MEAN_WARNING)
    _input_warnings(work, log_q)
    if not log_target and any_below(t, 0):
        work.warn(
            gettext_noop(
                "the target has negative values; with log_target=False it must hold probabilities p "
                "(pass log_target=True if it holds log p)"
            )
        )
    if log_target and any_above(t, 1e-6):
        work.warn(
            gettext_noop(
                "the target has positive values, but with log_target=True it must hold log p, "
                "which is never positive"
            )
        )


def _input_warnings(work: Working, log_q: torch.Tensor) -> None:
    finite_high = finite_max(log_q, log_q.amax().item())
    if finite_high is not None and finite_high > 1e-6:
        work.warn(
            gettext_noop(
                "the input has positive values, but log-probabilities are never positive: kl_div "
                "expects log q (for example F.log_softmax output), not probabilities — the classic "
                "mistake"
            )
        )
        return
    if off := sum_off_one(log_q.exp().sum(-1), tolerance=1e-2):
        work.warn(
            Text.of(
                gettext_noop(
                    "exp(input) should sum to 1 over the last dimension but sums to "
                    "%(total)s%(where)s: kl_div expects log-probabilities of a distribution "
                    "(F.log_softmax output)"
                ),
                **off,
            )
        )


def _nan_terms_warning(
    work: Working,
    pointwise: torch.Tensor,
    total: torch.Tensor | None,
    log_q: torch.Tensor,
    t: torch.Tensor,
    log_target: bool,
) -> None:
    # a nan term makes the total nan, so a number there rules out the elementwise look
    maybe_nan = total is None or bool(total.isnan())
    if not (maybe_nan and has_nan(pointwise)):
        return
    if not (pointwise.isnan() & ~t.isnan() & ~log_q.isnan()).any():
        return
    if log_target and any_equal(t, -math.inf):
        work.warn(
            gettext_noop(
                "some terms are nan: with log_target=True a target log p = -inf makes "
                "e^{log p} · (log p − log q) = 0 · (−inf), which PyTorch computes as nan; give p "
                "itself with log_target=False to get 0 there"
            )
        )
    else:
        work.warn(
            gettext_noop(
                "some terms are nan: a target probability of 0 meets log q = -inf (0 · −inf), "
                "or a target is negative"
            )
        )


def _infinite_terms_warning(
    work: Working, pointwise: torch.Tensor, total: torch.Tensor | None, log_q: torch.Tensor
) -> None:
    """p > 0 where q = 0: the divergence is infinite, as it is in the mathematics."""
    if total is not None and bool(total != math.inf):
        return
    infinite = (pointwise == math.inf) & (log_q == -math.inf)
    if infinite.any():
        work.warn(
            Text.of(
                gettext_noop(
                    "q is 0 (log q = -inf) where p > 0, so the divergence is inf: q must give "
                    "every outcome that p can take some probability%(where)s"
                ),
                where=where_text(infinite),
            )
        )
