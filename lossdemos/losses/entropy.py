r"""Shannon entropy of a distribution given as probabilities, counts or logits, in nats or bits."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from kb.messages import Text, gettext_noop
from lossdemos.losses.checks import (
    base_is_two,
    check_one_source,
    defined_logits,
    distribution,
    sum_off_one,
)
from lossdemos.losses.snippets import snippet
from lossdemos.losses.trace import Trace, Working

__all__ = ["entropy"]

# Further from 1 than float32 rounding of a few sums takes a row: the reader typed it so, say it.
ROUNDING_TOLERANCE = 1e-6

_Source = tuple[torch.Tensor, list[tuple[str, torch.Tensor]], list[str]]


@torch.no_grad()
def entropy(
    *, probs: Any = None, counts: Any = None, logits: Any = None, base: str | float = "e"
) -> Trace:
    r"""Shannon entropy of a distribution, per row for 2-D input (rows are distributions).

    .. math::
        H(p) = -\sum_i p_i \log p_i \quad (0 \log 0 = 0),
        \qquad H_2(p) = \frac{H(p)}{\ln 2} \text{ bits}

    Give exactly one of ``probs``, ``counts`` (normalised by their total) or ``logits`` (through
    softmax). The distribution is over the last dimension; the result has the other dimensions.
    Probabilities must be non-negative; a row that does not sum to exactly 1 is divided by its sum,
    with a warning when it is further than rounding (1e-6) from 1. ``base`` is ``"e"`` (nats) or ``"2"`` (bits).

    Steps: (``counts``, ``total`` for counts), ``probabilities``, ``log_p``, ``neg_p_log_p``,
    ``entropy_nats``, and ``entropy_bits`` for base 2.
    """
    check_one_source(probs=probs, counts=counts, logits=logits)
    bits = base_is_two(base)
    work = Working()
    if probs is not None:
        p, tensors, lines = _from_probabilities(work, probs)
    elif counts is not None:
        p, tensors, lines = _from_counts(work, counts)
    else:
        p, tensors, lines = _from_logits(work, logits)
    work.step(
        "log_p",
        r"\ln p_i",
        p.log(),
        gettext_noop("-inf where p_i = 0: an impossible outcome has infinite surprise"),
    )
    neg_p_log_p = work.step(
        "neg_p_log_p",
        r"-p_i \ln p_i",
        torch.special.entr(p),
        gettext_noop("0 where p_i = 0, because p log p → 0 as p → 0"),
    )
    classes = p.shape[-1] if p.dim() else 1
    nats = work.step(
        "entropy_nats",
        r"H = -\sum_i p_i \ln p_i",
        neg_p_log_p.sum(-1),
        Text.of(
            gettext_noop(
                "in nats; the most it can be for %(classes)s outcomes is ln %(classes)s = "
                "%(maximum)s (the uniform distribution)"
            ),
            classes=classes,
            maximum=f"{math.log(classes):.4f}",
        ),
    )
    imports = {"torch", "F"} if logits is not None else {"torch"}
    if bits:
        imports.add("math")
        result = _in_bits(work, nats, classes)
        lines.append("print(torch.special.entr(p).sum(-1) / math.log(2))")
    else:
        result = nats
        lines.append("print(torch.special.entr(p).sum(-1))")
    return work.trace(result, snippet(tensors, lines, imports=imports))


def _from_probabilities(work: Working, probs: Any) -> _Source:
    """The probabilities, each row divided by its sum (with a warning) if it does not sum to 1."""
    p, sums = distribution(probs, "probs", gettext_noop("probability"))
    tensors = [("p", p)]
    lines = []
    if not bool((sums == 1).all()):
        # even 1.0009 is divided by its sum: else H([1.0009]) = -0.0009 and H can pass log C
        p = p / p.sum(-1, keepdim=True)
        lines.append("p = p / p.sum(-1, keepdim=True)  # make every row sum to 1")
    if off := sum_off_one(sums, tolerance=ROUNDING_TOLERANCE):
        work.warn(
            Text.of(
                gettext_noop(
                    "probs should sum to 1 but a row sums to %(total)s%(where)s; each row was "
                    "divided by its sum before computing the entropy"
                ),
                **off,
            )
        )
    return work.step("probabilities", r"p_i", p), tensors, lines


def _from_counts(work: Working, counts: Any) -> _Source:
    c, sums = distribution(counts, "counts", gettext_noop("count"))
    work.step("counts", r"c_i", c)
    total = work.step("total", r"\sum_j c_j", sums.unsqueeze(-1))
    probabilities = work.step("probabilities", r"p_i = \frac{c_i}{\sum_j c_j}", c / total)
    return probabilities, [("counts", c)], ["p = counts / counts.sum(-1, keepdim=True)"]


def _from_logits(work: Working, logits: Any) -> _Source:
    z = defined_logits(logits)
    probabilities = work.step(
        "probabilities", r"p_i = \operatorname{softmax}(z)_i", F.softmax(z, dim=-1)
    )
    return probabilities, [("logits", z)], ["p = F.softmax(logits, dim=-1)"]


def _in_bits(work: Working, nats: torch.Tensor, classes: int) -> torch.Tensor:
    return work.step(
        "entropy_bits",
        r"H_2 = \frac{H}{\ln 2}",
        nats / math.log(2),
        Text.of(
            gettext_noop(
                "in bits: on average at least this many yes/no questions are needed to learn the "
                "outcome; at most log2 %(classes)s = %(maximum)s"
            ),
            classes=classes,
            maximum=f"{math.log2(classes):.4f}",
        ),
    )
