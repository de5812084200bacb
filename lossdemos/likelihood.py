"""The coin demo of the NLL page: 0/1 outcomes → the NLL of Bernoulli(p) over p ∈ (0, 1).

Maximum likelihood made visible: the curve is lowest at the sample mean. It computes with torch, so
the page reaches it through :mod:`lossdemos.engine`.
"""

from __future__ import annotations

from typing import Any

import torch

from kb.messages import Text, gettext_noop
from lossdemos import presenters
from lossdemos.errors import InputError
from lossdemos.parsing import parse_tensor

LIKELIHOOD_LIMIT = 10_000


def coin_likelihood(text: str) -> dict[str, Any]:
    """The outcomes in ``text`` and their NLL curve; InputError when they are not all 0 or 1."""
    outcomes = parse_tensor(
        text, field="outcomes", dtype=torch.float64, max_numbers=LIKELIHOOD_LIMIT
    ).flatten()
    not_binary = (outcomes != 0) & (outcomes != 1)
    if bool(not_binary.any()):
        position = int(torch.nonzero(not_binary)[0])
        raise InputError(
            Text.of(
                gettext_noop("outcome %(n)d is %(value)s; enter only 0 and 1"),
                n=position + 1,
                value=f"{float(outcomes[position]):g}",
            ),
            field="outcomes",
        )
    return _likelihood_curve(outcomes)


def _likelihood_curve(outcomes: torch.Tensor) -> dict[str, Any]:
    n = outcomes.numel()
    heads = outcomes.sum()
    p_hat = outcomes.mean()  # the maximum-likelihood estimate
    p = torch.linspace(0.001, 0.999, 999, dtype=torch.float64)

    def nll(q: torch.Tensor) -> torch.Tensor:
        # NLL(p) = -[k log p + (n - k) log(1 - p)]; xlogy makes 0·log 0 = 0, so all heads (or all
        # tails) still has its minimum at 1 (or 0)
        return -(torch.xlogy(heads, q) + torch.xlogy(n - heads, 1 - q))

    curve = nll(p)
    best_on_grid = p[torch.argmin(curve)]
    nll_at_p_hat = nll(p_hat)
    return {
        "count": n,
        "heads": int(heads),
        "p_hat": presenters.format_number(float(p_hat)),
        "grid_minimum": presenters.format_number(float(best_on_grid)),
        "nll_at_p_hat": presenters.format_number(float(nll_at_p_hat)),
        "chart": presenters.nll_curve(p, curve, float(p_hat), float(nll_at_p_hat)),
    }
