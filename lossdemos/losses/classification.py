r"""Classification losses: negative log-likelihood and cross-entropy, as ``F.nll_loss`` and
``F.cross_entropy`` compute them.

Both pick each example's log-probability of its target class (:func:`_nll_terms`), weight it and
reduce it the same way; cross-entropy first takes ``log_softmax`` of the logits, and adds label
smoothing (:func:`_smooth_index_targets`) or takes class probabilities as the target
(:func:`_probability_terms`, smoothed by :func:`_smoothed_target`). Here too: the
warnings about targets no example can reach (:func:`warn_impossible_targets`, which perplexity uses
as well) and about the classic mistakes of passing probabilities where log-probabilities or logits
belong.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from kb.messages import Text, gettext_noop
from lossdemos.losses.checks import (
    SUM_TOLERANCE,
    any_below,
    any_equal,
    any_tensor,
    call_pytorch,
    check_class_dim,
    check_ignore_index,
    check_label_smoothing,
    check_reduction,
    class_dim_of,
    class_target,
    empty_batch_target,
    finite_max,
    finite_min,
    has_nan,
    index_target,
    real_tensor,
    sum_off_one,
    value_range,
    weight_per_class,
    where_text,
)
from lossdemos.losses.snippets import call_snippet
from lossdemos.losses.trace import Trace, Working

__all__ = ["cross_entropy", "nll", "warn_impossible_targets"]

REDUCTIONS = ("none", "mean", "sum")


@torch.no_grad()
def nll(
    input: Any,
    target: Any,
    *,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Trace:
    r"""Negative log-likelihood: minus each example's log-probability of its target class.

    .. math::
        \ell_n = -w_{y_n} \, x_{n,y_n} \, \mathbb{1}[y_n \ne \text{ignore\_index}],
        \qquad \text{mean} = \frac{\sum_n \ell_n}{\sum_n w_{y_n} \mathbb{1}[y_n \ne \text{ignore\_index}]}

    ``input`` holds log-probabilities (``log_softmax`` output) of shape (C), (N, C) or
    (N, C, d1, ...); ``target`` holds class indices of shape (), (N) or (N, d1, ...). The weighted
    mean divides by the sum of the weights of the counted targets, not by N. Equals
    ``F.nll_loss`` (and ``nllloss_reference``).

    Steps: ``picked``, ``class_weight``, ``weighted``, then ``numerator`` and ``denominator`` for
    'mean', and ``loss``.
    """
    x = real_tensor(input, "input", examples_optional=True)
    class_dim = check_class_dim(x, "input")
    reduction = check_reduction(reduction, REDUCTIONS)
    ignore_index = check_ignore_index(ignore_index)
    if x.numel() == 0:
        t = empty_batch_target(x, target, probabilities=False)
        return no_example_trace(
            F.nll_loss, "log_probs", x, t, ignore_index=ignore_index, reduction=reduction
        )
    target = index_target(x, target, ignore_index)
    w = weight_per_class(weight, x.shape[class_dim], x.dtype)
    work = Working()
    _log_probability_warnings(work, x, class_dim, "NLLLoss")
    ignored, picked, class_weight, weighted = _nll_terms(work, x, target, w, ignore_index)
    _ignored_warnings(work, ignored, ignore_index, reduction)
    warn_impossible_targets(work, x, target, ignored, picked=picked)
    _reduce(work, weighted, class_weight, reduction, ignored)
    result = call_pytorch(
        F.nll_loss, x, target, weight=w, ignore_index=ignore_index, reduction=reduction
    )
    code = call_snippet(
        "F.nll_loss",
        [("log_probs", x), ("target", target), ("weight", w)],
        ignore_index=ignore_index,
        reduction=reduction,
    )
    return work.trace(result, code)


@torch.no_grad()
def cross_entropy(
    logits: Any,
    target: Any,
    *,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Trace:
    r"""Cross-entropy of logits against class indices or class probabilities (``F.cross_entropy``).

    With class indices (``target`` shape (), (N) or (N, d1, ...)) and label smoothing
    :math:`\varepsilon` over :math:`C` classes:

    .. math::
        \ell_n = (1-\varepsilon)\,\bigl(-w_{y_n} \log p_{n,y_n}\bigr)
                 + \frac{\varepsilon}{C} \sum_c \bigl(-w_c \log p_{n,c}\bigr),
        \qquad \text{mean} = \frac{\sum_n \ell_n}{\sum_n w_{y_n}}

    where :math:`\log p = \operatorname{log\_softmax}(z)` along the class dimension and the sums run
    over targets that are not ``ignore_index`` (ignored ones contribute 0 to both). With class
    probabilities (``target`` has the logits' shape), :math:`q = (1-\varepsilon) t + \varepsilon / C`
    and :math:`\ell_n = -\sum_c w_c q_{n,c} \log p_{n,c}`; the mean then divides by the number of
    examples (N·d1·…), not by the weights, and ``ignore_index`` plays no part — as in PyTorch.

    Steps (indices): ``log_softmax``, ``picked``, ``class_weight``, ``weighted``, with smoothing
    ``smooth`` and ``smoothed``, then ``numerator``/``denominator`` for 'mean', and ``loss``.
    Steps (probabilities): ``log_softmax``, (``smoothed_target``), ``weighted``, ``per_example``,
    (``denominator``), ``loss``.
    """
    z = real_tensor(logits, "logits", examples_optional=True)
    class_dim = check_class_dim(z, "logits")
    reduction = check_reduction(reduction, REDUCTIONS)
    ignore_index = check_ignore_index(ignore_index)
    label_smoothing = check_label_smoothing(label_smoothing)
    if z.numel() == 0:
        probabilities = any_tensor(target, "target").dim() == z.dim()
        t = empty_batch_target(z, target, probabilities=probabilities)
        return no_example_trace(
            F.cross_entropy,
            "logits",
            z,
            t,
            label_smoothing=label_smoothing,
            reduction=reduction,
        )
    w = weight_per_class(weight, z.shape[class_dim], z.dtype)
    target, probability_target = class_target(z, target, ignore_index)
    work = Working()
    row_sums = z.sum(class_dim)  # one reduction for two warnings: see _probability_input_warning
    _probability_input_warning(work, z, class_dim, row_sums)
    # log_softmax once: the step, the loss and every check below read this one tensor.
    log_p = work.step(
        "log_softmax",
        r"\log p_{n,c} = z_{n,c} - \log \sum_k e^{z_{n,k}}",
        F.log_softmax(z, dim=class_dim),
        gettext_noop(
            "along the class dimension; a class with logit -inf gets log-probability -inf"
        ),
    )
    if probability_target:
        _probability_target_warnings(work, log_p, target, ignore_index)
        q = _smoothed_target(work, target, label_smoothing) if label_smoothing > 0 else target
        result = _probability_terms(work, log_p, q, w, reduction)
    else:
        result = _index_terms(work, log_p, target, w, ignore_index, label_smoothing, reduction)
    if not torch.isfinite(row_sums).all() and has_nan(z):  # a finite sum in every row: no nan
        work.warn(gettext_noop("the logits contain nan, so the loss is nan"))
    code = call_snippet(
        "F.cross_entropy",
        [("logits", z), ("target", target), ("weight", w)],
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )
    return work.trace(result, code)


def no_example_trace(
    function: Any, name: str, x: torch.Tensor, target: torch.Tensor, **options: Any
) -> Trace:
    """A batch of no examples, answered as PyTorch answers it: nan for 'mean' (0 / 0), 0 for
    'sum', an empty tensor for 'none'."""
    work = Working()
    result = work.step("loss", r"\ell", call_pytorch(function, x, target, **options))
    if options.get("reduction") == "mean":
        work.warn(
            gettext_noop(
                "there are no examples (N = 0), so the mean divides 0 by 0: the loss is nan, "
                "as in PyTorch"
            )
        )
    function_name = "F.nll_loss" if function is F.nll_loss else "F.cross_entropy"
    code = call_snippet(function_name, [(name, x), ("target", target)], **options)
    return work.trace(result, code)


# --- class-index targets ------------------------------------------------------------------------


def _index_terms(
    work: Working,
    log_p: torch.Tensor,
    target: torch.Tensor,
    w: torch.Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
) -> torch.Tensor:
    """The steps for class-index targets; returns F.cross_entropy's result.

    The result is computed from ``log_p`` the way ATen's ``cross_entropy`` does (``nll_loss`` on the
    log-probabilities, plus for smoothing its own ``smooth_loss`` reduction), so it is bit for bit
    ``F.cross_entropy`` without a second log_softmax over the logits; the tests check the equality.
    """
    ignored, picked, class_weight, weighted = _nll_terms(work, log_p, target, w, ignore_index)
    _ignored_warnings(work, ignored, ignore_index, reduction)
    result = call_pytorch(
        F.nll_loss, log_p, target, weight=w, ignore_index=ignore_index, reduction=reduction
    )
    per_example = weighted
    if label_smoothing > 0:
        per_example, result = _smooth_index_targets(
            work, log_p, target, w, ignored, weighted, result, label_smoothing, reduction
        )
    _reduce(work, per_example, class_weight, reduction, ignored)
    warn_impossible_targets(work, log_p, target, ignored, picked=picked)
    return result


def _nll_terms(
    work: Working,
    log_p: torch.Tensor,
    target: torch.Tensor,
    w: torch.Tensor | None,
    ignore_index: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """ignored mask, picked log-probabilities, per-example weights, -w·log p (0 where ignored)."""
    class_dim = class_dim_of(log_p)
    ignored = target == ignore_index
    safe, gathered = _gather_targets(log_p, target, ignored)
    zero = torch.zeros((), dtype=log_p.dtype)
    picked = work.step(
        "picked",
        r"\log p_{n,y_n}",
        torch.where(ignored, zero, gathered),
        gettext_noop(
            "the log-probability of each target class; 0 where the target is ignore_index"
        ),
    )
    per_class = w if w is not None else torch.ones(log_p.shape[class_dim], dtype=log_p.dtype)
    class_weight = work.step(
        "class_weight",
        r"w_{y_n} \, \mathbb{1}[y_n \ne \text{ignore\_index}]",
        torch.where(ignored, zero, per_class[safe]),
        gettext_noop("the weight of each target's class (1 without weights); 0 where ignored"),
    )
    weighted = work.step(
        "weighted",
        r"\ell_n = -w_{y_n} \log p_{n,y_n}",
        -class_weight * picked,
        gettext_noop("the loss of each example"),
    )
    return ignored, picked, class_weight, weighted


def _gather_targets(
    log_p: torch.Tensor, target: torch.Tensor, ignored: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The targets with ignored ones replaced by class 0, and the log-probability each picks."""
    class_dim = class_dim_of(log_p)
    safe = torch.where(ignored, torch.zeros_like(target), target)
    return safe, log_p.gather(class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)


def _smooth_index_targets(
    work: Working,
    log_p: torch.Tensor,
    target: torch.Tensor,
    w: torch.Tensor | None,
    ignored: torch.Tensor,
    weighted: torch.Tensor,
    unsmoothed: torch.Tensor,
    eps: float,
    reduction: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Label smoothing ε over C classes: :math:`(1-\varepsilon)\,\ell_n + \frac{\varepsilon}{C} s_n`
    per example, and F.cross_entropy's result from ``unsmoothed`` (its ``nll_loss``).

    ATen reduces the smoothing term on its own and then mixes the two reduced losses.
    """
    class_dim = class_dim_of(log_p)
    classes = log_p.shape[class_dim]
    w_view = _class_view(w, log_p) if w is not None else None
    spread = -(log_p * w_view).sum(class_dim) if w_view is not None else -log_p.sum(class_dim)
    smooth = work.step(
        "smooth",
        r"s_n = -\sum_c w_c \log p_{n,c}",
        torch.where(ignored, torch.zeros_like(spread), spread),
        gettext_noop("the loss against a uniform target, times C; 0 where the target is ignored"),
    )
    per_example = work.step(
        "smoothed",
        r"(1-\varepsilon)\,\ell_n + \frac{\varepsilon}{C} s_n",
        (1 - eps) * weighted + (eps / classes) * smooth,
        Text.of(
            gettext_noop(
                "ε = %(epsilon)s: the target class keeps 1 − ε + ε/C of the probability mass, "
                "every other class gets ε/C"
            ),
            epsilon=f"{eps:g}",
        ),
    )
    if reduction == "none":
        reduced_smooth = smooth
    elif reduction == "sum":
        reduced_smooth = smooth.sum()
    elif w is not None:
        counted = target.masked_select(~ignored).flatten()
        reduced_smooth = smooth.sum() / w.gather(0, counted).sum()
    else:
        reduced_smooth = smooth.sum() / (~ignored).sum()
    return per_example, (1 - eps) * unsmoothed + reduced_smooth * (eps / classes)


def _reduce(
    work: Working,
    per_example: torch.Tensor,
    class_weight: torch.Tensor,
    reduction: str,
    ignored: torch.Tensor,
) -> None:
    if reduction == "none":
        work.step(
            "loss", r"\ell_n", per_example, gettext_noop("reduction='none': one loss per example")
        )
        return
    numerator = per_example.sum()
    if reduction == "sum":
        work.step("loss", r"\sum_n \ell_n", numerator)
        return
    work.step("numerator", r"\sum_n \ell_n", numerator)
    denominator = work.step(
        "denominator",
        r"\sum_n w_{y_n} \, \mathbb{1}[y_n \ne \text{ignore\_index}]",
        class_weight.sum(),
        gettext_noop(
            "the weighted mean divides by the total weight of the counted targets, not by N"
        ),
    )
    if float(denominator) == 0 and not bool(ignored.all()):
        work.warn(
            gettext_noop(
                "the weights of the counted targets sum to 0, so the mean divides by 0: the loss "
                "is nan, as in PyTorch"
            )
        )
    work.step(
        "loss",
        r"\frac{\sum_n \ell_n}{\sum_n w_{y_n} \mathbb{1}[y_n \ne \text{ignore\_index}]}",
        numerator / denominator,
    )


def _class_view(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Weights shaped to broadcast along the class dimension of x."""
    if x.dim() == 1:
        return w
    return w.view(1, -1, *([1] * (x.dim() - 2)))


# --- class-probability targets ------------------------------------------------------------------


def _probability_terms(
    work: Working, log_p: torch.Tensor, q: torch.Tensor, w: torch.Tensor | None, reduction: str
) -> torch.Tensor:
    """The steps for class-probability targets ``q`` (smoothed already); returns F.cross_entropy's
    result.

    ATen computes ``-(log_p * q * w).sum()`` (over the class dimension for 'none'), divided by the
    number of examples for 'mean'; the ``weighted`` step is that product negated, so the result is
    bit for bit PyTorch's from the step's own tensor. Full-size temporaries are negated and
    weighted in place: only ``log_p``, ``q`` and the terms are ever as big as the logits.
    """
    class_dim = class_dim_of(log_p)
    terms = log_p * q
    if w is not None:
        terms.mul_(_class_view(w, log_p))
    weighted = work.step(
        "weighted",
        r"-w_c \, q_{n,c} \log p_{n,c}" if w is not None else r"-q_{n,c} \log p_{n,c}",
        terms.neg_(),
    )
    per_example = work.step(
        "per_example",
        r"\ell_n = -\sum_c w_c \, q_{n,c} \log p_{n,c}",
        weighted.sum(class_dim),
    )
    if reduction == "none":
        work.step("loss", r"\ell_n", per_example)
        return per_example
    # negating before summing gives exactly the negated sum: rounding is symmetric in sign
    total = weighted.sum()
    if reduction == "sum":
        work.step("loss", r"\sum_n \ell_n", per_example.sum())
        return total
    count = per_example.numel()
    denominator = work.step(
        "denominator",
        r"N",
        torch.tensor(float(count), dtype=log_p.dtype),
        gettext_noop(
            "with probability targets the mean divides by the number of examples, "
            "even when there are class weights"
        ),
    )
    work.step("loss", r"\frac{1}{N} \sum_n \ell_n", per_example.sum() / denominator)
    return total / count


def _smoothed_target(work: Working, target: torch.Tensor, eps: float) -> torch.Tensor:
    r"""Label smoothing ε of class probabilities over C classes:
    :math:`q = (1-\varepsilon)\,t + \varepsilon / C`."""
    classes = target.shape[class_dim_of(target)]
    return work.step(
        "smoothed_target",
        r"q_{n,c} = (1-\varepsilon)\,t_{n,c} + \frac{\varepsilon}{C}",
        target * (1 - eps) + eps / classes,
        Text.of(gettext_noop("ε = %(epsilon)s"), epsilon=f"{eps:g}"),
    )


def _probability_target_warnings(
    work: Working, log_p: torch.Tensor, target: torch.Tensor, ignore_index: int
) -> None:
    if any_below(target, 0):
        work.warn(
            gettext_noop(
                "the target has negative values, but class probabilities are never negative"
            )
        )
    if off := sum_off_one(target.sum(class_dim_of(target))):
        work.warn(
            Text.of(
                gettext_noop(
                    "target rows should sum to 1 (class probabilities) but one sums to "
                    "%(total)s%(where)s"
                ),
                **off,
            )
        )
    if any_equal(log_p, -math.inf) and ((target == 0) & (log_p == -math.inf)).any():
        work.warn(
            gettext_noop(
                "a class has logit -inf and target probability 0: PyTorch computes 0 · (−inf) = nan "
                "there, so the loss is nan"
            )
        )
    if ignore_index != -100:
        work.warn(
            gettext_noop("ignore_index has no effect with probability targets (PyTorch ignores it)")
        )


# --- warnings -----------------------------------------------------------------------------------


def _ignored_warnings(
    work: Working, ignored: torch.Tensor, ignore_index: int, reduction: str
) -> None:
    if not ignored.all():
        return
    if reduction == "mean":
        work.warn(
            Text.of(
                gettext_noop(
                    "every target equals ignore_index (%(ignore_index)s), so the mean divides 0 "
                    "by 0: the loss is nan, as in PyTorch"
                ),
                ignore_index=ignore_index,
            )
        )
    elif reduction == "sum":
        work.warn(
            Text.of(
                gettext_noop(
                    "every target equals ignore_index (%(ignore_index)s), so nothing is counted: "
                    "the sum is 0"
                ),
                ignore_index=ignore_index,
            )
        )


def warn_impossible_targets(
    work: Working,
    log_p: torch.Tensor,
    target: torch.Tensor,
    ignored: torch.Tensor,
    *,
    picked: torch.Tensor | None = None,
) -> None:
    """Warn about counted targets whose loss is inf or nan; ``picked`` may come from _nll_terms
    (its ignored entries are 0, which neither check counts)."""
    if picked is None:
        _safe, picked = _gather_targets(log_p, target, ignored)
    impossible = (picked == -math.inf) & ~ignored
    if impossible.any():
        work.warn(
            Text.of(
                gettext_noop(
                    "a target class has log-probability -inf (probability 0, or a logit so far "
                    "below the others that float32 overflows), so its loss is inf%(where)s"
                ),
                where=where_text(impossible),
            )
        )
    # A row that is nan throughout has a nan picked value, so only then is the full-size
    # isnan pass over log_p needed to tell "all nan" from a single nan.
    if not (picked.isnan() & ~ignored).any():
        return
    undefined = (log_p.isnan().all(class_dim_of(log_p))) & ~ignored
    if undefined.any():
        work.warn(
            Text.of(
                gettext_noop(
                    "an example's log-probabilities are nan: its logits hold +inf or nan, or are "
                    "all -inf%(where)s"
                ),
                where=where_text(undefined),
            )
        )


def _log_probability_warnings(work: Working, x: torch.Tensor, class_dim: int, loss: str) -> None:
    """The classic mistake: probabilities (or raw logits) where log-probabilities belong."""
    high = x.amax().item()  # nan if any value is nan
    finite_high = finite_max(x, high)
    if finite_high is None or finite_high <= 1e-6:
        off = None
        if high <= 0:  # every value <= 0 (a nan fails this, as it fails (x <= 0).all())
            off = sum_off_one(x.exp().sum(class_dim), tolerance=1e-2)
        if off:
            work.warn(
                Text.of(
                    gettext_noop(
                        "exp(input) should sum to 1 over the classes but sums to "
                        "%(total)s%(where)s: %(loss)s expects log_softmax output"
                    ),
                    **off,
                    loss=loss,
                )
            )
        return
    if finite_min(x) >= 0 and finite_high <= 1:
        work.warn(
            Text.of(
                gettext_noop(
                    "input looks like probabilities, not log-probabilities: %(loss)s expects "
                    "log_softmax output; the loss can go negative"
                ),
                loss=loss,
            )
        )
    else:
        work.warn(
            Text.of(
                gettext_noop(
                    "input has positive values, so it is not log-probabilities: %(loss)s expects "
                    "log_softmax output (for raw logits use cross-entropy); the loss can go "
                    "negative"
                ),
                loss=loss,
            )
        )


def _probability_input_warning(
    work: Working, z: torch.Tensor, class_dim: int, row_sums: torch.Tensor
) -> None:
    """Softmax output passed as logits: every value in [0, 1] and every row summing to 1.

    ``row_sums`` is ``z.sum(class_dim)``, which cross-entropy also reads to rule out nan; the full
    pass over the values runs only when every row sums to 1, which raw logits almost never do.
    Elementwise checks (each a full-size temporary as big as the logits) run only when such a
    reduction cannot decide.
    """
    if z.shape[class_dim] < 2 or not ((row_sums - 1).abs() <= SUM_TOLERANCE).all():
        return
    low, high = value_range(z)
    if low >= 0 and high <= 1:  # nan fails both, as it fails (z >= 0) & (z <= 1)
        work.warn(
            gettext_noop(
                "the logits look like probabilities (each row sums to 1): cross-entropy applies "
                "log_softmax itself, so pass raw scores, not softmax output"
            )
        )
