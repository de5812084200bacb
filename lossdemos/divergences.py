r"""Entropy, cross-entropy, KL in both directions and Jensen–Shannon for two distributions p and q.

The numbers of the "Distributions you can move" view, computed by PyTorch in float64 — the same
functions the loss pages use (``torch.special.entr``, ``F.kl_div``) — so the page without
JavaScript shows PyTorch's numbers and ``explore.js`` is tested against them.

.. math::
    H(p) = -\sum_i p_i \log p_i, \quad H(p, q) = -\sum_i p_i \log q_i,
    \quad \mathrm{KL}(p \| q) = \sum_i p_i \log \frac{p_i}{q_i} = H(p, q) - H(p),
    \quad \mathrm{JS}(p, q) = \tfrac12 \mathrm{KL}(p \| m) + \tfrac12 \mathrm{KL}(q \| m),
    \ m = \tfrac12 (p + q)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["Divergences", "divergences", "tempered_softmax"]


@dataclass(frozen=True)
class Divergences:
    """Every number of the view, in the unit asked for (bits or nats)."""

    entropy_p: float
    entropy_q: float
    cross_entropy_pq: float  # H(p, q): p's symbols, q's code
    cross_entropy_qp: float
    kl_pq: float
    kl_qp: float
    js: float


def _entropy(p: torch.Tensor) -> float:
    return torch.special.entr(p).sum().item()


def _kl(p: torch.Tensor, q: torch.Tensor) -> float:
    """KL(p‖q) as PyTorch computes it: ``F.kl_div(log q, p, reduction="sum")``."""
    return F.kl_div(q.log(), p, reduction="sum").item()


def _cross_entropy(p: torch.Tensor, q: torch.Tensor) -> float:
    """H(p, q) = −Σ pᵢ log qᵢ with 0·log 0 = 0 (``torch.xlogy``)."""
    return -torch.xlogy(p, q).sum().item()


@torch.no_grad()
def divergences(p: Sequence[float], q: Sequence[float], *, base: str = "2") -> Divergences:
    """The view's numbers for distributions ``p`` and ``q`` (each already summing to 1)."""
    tp = torch.tensor(list(p), dtype=torch.float64)
    tq = torch.tensor(list(q), dtype=torch.float64)
    m = (tp + tq) / 2
    unit = math.log(2) if base == "2" else 1.0
    nats = Divergences(
        entropy_p=_entropy(tp),
        entropy_q=_entropy(tq),
        cross_entropy_pq=_cross_entropy(tp, tq),
        cross_entropy_qp=_cross_entropy(tq, tp),
        kl_pq=_kl(tp, tq),
        kl_qp=_kl(tq, tp),
        js=(_kl(tp, m) + _kl(tq, m)) / 2,
    )
    return Divergences(**{name: value / unit for name, value in vars(nats).items()})


@torch.no_grad()
def tempered_softmax(logits: Sequence[float], temperature: float) -> list[float]:
    """q = softmax(z / T): T > 1 flattens q towards uniform, T < 1 sharpens it towards the argmax."""
    z = torch.tensor(list(logits), dtype=torch.float64)
    return torch.softmax(z / temperature, dim=0).tolist()
