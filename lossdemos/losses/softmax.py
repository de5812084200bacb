r"""Softmax and log-softmax: scores become (log-)probabilities, shifted by the maximum first.

Both record the steps they share (``max``, ``shifted``, ``exp``, ``sum``) the same way, and warn
the same way about logits that make a row nan (a nan, a +inf, a row of -inf).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from kb.messages import Text, gettext_noop
from lossdemos.losses.checks import call_pytorch, check_dim, real_tensor, value_range, where_text
from lossdemos.losses.snippets import snippet
from lossdemos.losses.trace import Trace, Working

__all__ = ["log_softmax", "softmax"]


@torch.no_grad()
def softmax(logits: Any, dim: int = -1) -> Trace:
    r"""Softmax along ``dim``: scores become probabilities that sum to 1.

    .. math::
        \operatorname{softmax}(z)_i = \frac{e^{z_i - m}}{\sum_j e^{z_j - m}}, \qquad m = \max_j z_j

    Subtracting the maximum cancels out, but keeps ``exp`` from overflowing. Steps: ``max``,
    ``shifted``, ``exp``, ``sum``, ``probabilities``, ``log_softmax``.
    """
    z = real_tensor(logits, "logits")
    dim = check_dim(z, dim)
    work = Working()
    shifted, exp, total = _shift_exp_sum(work, z, dim)
    work.step(
        "probabilities",
        r"p_i = \frac{e^{z_i - m}}{\sum_j e^{z_j - m}}",
        exp / total,  # the exp step's own values: exponentiating again would cost a full pass
        gettext_noop("non-negative and summing to 1; a logit of -inf gets probability 0"),
    )
    work.step(
        "log_softmax",
        r"\log p_i = z_i - m - \log \sum_j e^{z_j - m}",
        shifted - total.log(),
        gettext_noop(
            "what cross-entropy uses: computed directly, it never takes log(0) of a tiny probability"
        ),
    )
    _softmax_warnings(work, z, dim)
    result = call_pytorch(F.softmax, z, dim=dim)
    code = snippet([("logits", z)], [f"print(F.softmax(logits, dim={dim}))"])
    return work.trace(result, code)


@torch.no_grad()
def log_softmax(logits: Any, dim: int = -1) -> Trace:
    r"""Log-softmax along ``dim``: log-probabilities, computed without ever taking ``log(0)``.

    .. math::
        \log \operatorname{softmax}(z)_i = z_i - m - \log \sum_j e^{z_j - m},
        \qquad m = \max_j z_j

    Steps: ``max``, ``shifted``, ``exp``, ``sum``, ``log_sum``, ``log_softmax``.
    """
    z = real_tensor(logits, "logits")
    dim = check_dim(z, dim)
    work = Working()
    shifted, _exp, total = _shift_exp_sum(work, z, dim)
    log_sum = work.step("log_sum", r"\log \sum_j e^{z_j - m}", total.log())
    work.step(
        "log_softmax",
        r"z_i - m - \log \sum_j e^{z_j - m}",
        shifted - log_sum,
        gettext_noop("m + log_sum is logsumexp(z); a class whose logit is -inf gets -inf"),
    )
    _softmax_warnings(work, z, dim)
    result = call_pytorch(F.log_softmax, z, dim=dim)
    code = snippet([("logits", z)], [f"print(F.log_softmax(logits, dim={dim}))"])
    return work.trace(result, code)


def _shift_exp_sum(
    work: Working, z: torch.Tensor, dim: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The steps softmax and log-softmax share: max, shifted, exp, sum."""
    m = work.step("max", r"m = \max_j z_j", z.amax(dim, keepdim=True))
    shifted = work.step("shifted", r"z_i - m", z - m, gettext_noop("the largest score becomes 0"))
    exp = work.step(
        "exp", r"e^{z_i - m}", shifted.exp(), gettext_noop("each between 0 and 1: no overflow")
    )
    total = work.step("sum", r"\sum_j e^{z_j - m}", exp.sum(dim, keepdim=True))
    return shifted, exp, total


def _softmax_warnings(work: Working, z: torch.Tensor, dim: int) -> None:
    low, high = value_range(z)
    nan = math.isnan(low)
    if nan:
        work.warn(gettext_noop("the logits contain nan, so the rows holding it are nan"))
    if high == math.inf or (nan and (z == math.inf).any()):
        work.warn(
            gettext_noop(
                "a logit is +inf: softmax would compute inf − inf, so PyTorch returns nan in that row"
            )
        )
    if low != -math.inf and not nan:  # then no logit is -inf, let alone a whole row
        return
    all_minus_inf = (z == -math.inf).all(dim)
    if all_minus_inf.any():
        work.warn(
            Text.of(
                gettext_noop(
                    "a row has every logit -inf: softmax divides 0 by 0 there, so that row is nan"
                    "%(where)s"
                ),
                where=where_text(all_minus_inf),
            )
        )
