r"""Binary cross-entropy on logits, as ``F.binary_cross_entropy_with_logits`` computes it."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from kb.messages import gettext_noop
from lossdemos.losses.checks import (
    broadcastable,
    call_pytorch,
    check_reduction,
    real_tensor,
    target_like,
)
from lossdemos.losses.snippets import call_snippet
from lossdemos.losses.trace import Trace, Working

__all__ = ["binary_cross_entropy_with_logits"]


@torch.no_grad()
def binary_cross_entropy_with_logits(
    logits: Any, target: Any, *, weight: Any = None, pos_weight: Any = None, reduction: str = "mean"
) -> Trace:
    r"""Binary cross-entropy on raw scores, one independent yes/no per element.

    .. math::
        \ell_i = -w_i \bigl[\, p_w \, y_i \log \sigma(x_i) + (1 - y_i) \log (1 - \sigma(x_i)) \bigr]

    with :math:`\log \sigma(x) = -\operatorname{softplus}(-x)` and
    :math:`\log(1-\sigma(x)) = -\operatorname{softplus}(x)`, which never take ``log(0)``.
    ``target`` has the logits' shape (values in [0, 1]); ``weight`` and ``pos_weight`` broadcast to
    it (``pos_weight`` usually has one value per class, the last dimension). Equals
    ``F.binary_cross_entropy_with_logits``.

    Steps: ``log_sigmoid``, ``log_one_minus_sigmoid``, ``positive_term``, ``negative_term``,
    ``weighted``, (``denominator`` for 'mean'), ``loss``.
    """
    x = real_tensor(logits, "logits")
    reduction = check_reduction(reduction, ("none", "mean", "sum"))
    y = target_like(target, x, "logits")
    w = broadcastable(weight, x, "weight")
    pw = broadcastable(pos_weight, x, "pos_weight")
    work = Working()
    _warnings(work, x, y)
    log_sig = work.step(
        "log_sigmoid", r"\log \sigma(x_i) = -\operatorname{softplus}(-x_i)", F.logsigmoid(x)
    )
    log_one_minus = work.step(
        "log_one_minus_sigmoid",
        r"\log (1 - \sigma(x_i)) = -\operatorname{softplus}(x_i)",
        F.logsigmoid(-x),
    )
    positive = work.step(
        "positive_term",
        r"p_w \, y_i \log \sigma(x_i)" if pw is not None else r"y_i \log \sigma(x_i)",
        y * log_sig if pw is None else pw * y * log_sig,
        gettext_noop("pos_weight > 1 makes missed positives cost more") if pw is not None else "",
    )
    negative = work.step(
        "negative_term", r"(1 - y_i) \log (1 - \sigma(x_i))", (1 - y) * log_one_minus
    )
    weighted = work.step(
        "weighted",
        r"\ell_i = -w_i [\, \cdots ]" if w is not None else r"\ell_i = -[\, \cdots ]",
        -(positive + negative) if w is None else w * -(positive + negative),
        gettext_noop("the loss of each element"),
    )
    _reduce(work, weighted, reduction)
    result = call_pytorch(
        F.binary_cross_entropy_with_logits, x, y, weight=w, pos_weight=pw, reduction=reduction
    )
    code = call_snippet(
        "F.binary_cross_entropy_with_logits",
        [("logits", x), ("target", y), ("weight", w), ("pos_weight", pw)],
        reduction=reduction,
    )
    return work.trace(result, code)


def _warnings(work: Working, x: torch.Tensor, y: torch.Tensor) -> None:
    if ((y < 0) | (y > 1)).any():
        work.warn(
            gettext_noop("the target has values outside [0, 1], but they should be probabilities")
        )
    if torch.isinf(x).any():
        work.warn(
            gettext_noop(
                "a logit is infinite: PyTorch's formula then meets 0 · ∞ and the loss can be nan; "
                "keep logits finite"
            )
        )


def _reduce(work: Working, weighted: torch.Tensor, reduction: str) -> None:
    if reduction == "none":
        work.step("loss", r"\ell_i", weighted)
    elif reduction == "sum":
        work.step("loss", r"\sum_i \ell_i", weighted.sum())
    else:
        denominator = work.step(
            "denominator",
            r"N",
            torch.tensor(float(weighted.numel()), dtype=weighted.dtype),
            gettext_noop("the mean is over every element"),
        )
        work.step("loss", r"\frac{1}{N} \sum_i \ell_i", weighted.sum() / denominator)
