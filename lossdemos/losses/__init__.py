r"""The loss engine: each concept as a short reference function that shows its working.

Pure torch, no Django. Written in the spirit of the reference functions in PyTorch's own test suite
(``nllloss_reference``, ``cross_entropy_loss_indices_target_reference``, ``kldivloss_reference`` in
``torch/testing/_internal/common_nn.py``): one function per concept, the formula in its docstring, the
formula computed step by step. Every function returns a :class:`Trace`:

- ``result`` is exactly what ``torch.nn.functional`` returns for the same tensors, so nothing shown
  to a learner is "almost" PyTorch. The function calls it, or, where that would repeat a full pass
  over a big input, computes it from the step tensors already in hand in ATen's own order of
  operations (cross-entropy and perplexity from their one ``log_softmax``, KL from its pointwise
  terms); the tests check these are bit for bit PyTorch's;
- ``steps`` are the intermediate tensors of the formula, each with a short ``name`` key, a LaTeX
  ``formula`` and a ``note``. The last step, ``loss`` (or the concept's own name), is the formula's
  own answer; the tests prove it equals ``result`` to float32 precision;
- ``warnings`` explain surprising outcomes (NaN means, infinite losses, probabilities passed where
  log-probabilities belong, PyTorch's own ``UserWarning`` for ``kl_div(reduction='mean')``);
- ``code`` is a short runnable PyTorch snippet that prints ``result``. Tensors of up to
  ``MAX_LITERAL_NUMBERS`` numbers are written out exactly (float32 values with the shortest text that
  reads back to the same float32); larger ones become a placeholder of the same shape
  (``torch.zeros(512, 32000)``) with a comment saying to load the real data, so the snippet still runs
  but prints a different number.

Shapes and semantics are ``torch.nn.functional``'s: the class dimension is 1, or 0 for 1-D input.
Inputs are float32 (integers are converted) or float64 (kept); other float tensors follow the input's
dtype. Bad input raises :class:`LossInputError` with a sentence a learner understands, checked before
any PyTorch call, so PyTorch's internal error text never reaches the user.

Speed: an upload can be a (512, 32000) tensor, where every full-size temporary (a ``z - m``, a
boolean mask for a warning check) costs as much as the loss itself, mostly in fresh memory. So each
function computes a full-size tensor only for a step it shows, checks for warnings with reductions
(``amax``, ``aminmax``, a row sum) that allocate nothing and look elementwise only when those cannot
decide, and leaves torch's intra-op threads alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lossdemos.messages import Text, gettext_noop

__all__ = [
    "KL_MEAN_WARNING",
    "MAX_LITERAL_NUMBERS",
    "LossInputError",
    "PerplexityTrace",
    "Step",
    "Trace",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "entropy",
    "kl",
    "log_softmax",
    "nll",
    "perplexity",
    "softmax",
]

MAX_LITERAL_NUMBERS = 200

# PyTorch's UserWarning for kl_div(reduction='mean'), with the spaces between its sentences restored.
KL_MEAN_WARNING = gettext_noop(
    "reduction: 'mean' divides the total loss by both the batch size and the support size. "
    "'batchmean' divides only by the batch size, and aligns with the KL div math definition. "
    "'mean' will be changed to behave the same as 'batchmean' in the next major release."
)

_SUM_TOLERANCE = 1e-3  # how far a row of probabilities may sum from 1 before we say so


class LossInputError(ValueError):
    """Input a loss cannot take. ``message`` is for the user; ``location`` says where."""

    def __init__(self, message: str, *, field: str | None = None, **location: Any) -> None:
        super().__init__(message)
        self.message = message
        self.location: dict[str, Any] = {"field": field, **location} if field else dict(location)


@dataclass(frozen=True)
class Step:
    """One intermediate tensor of a formula."""

    name: str  # a short key: "log_softmax", "picked", "weighted", "denominator", ...
    formula: str  # LaTeX, e.g. r"\log p_{n,y_n}"; the web layer renders it to MathML
    value: torch.Tensor
    note: str = ""

    @property
    def shape(self) -> list[int]:
        return list(self.value.shape)


@dataclass(frozen=True)
class Trace:
    """A loss with its working: the PyTorch result, the formula's steps, warnings and a snippet."""

    result: torch.Tensor
    steps: list[Step]
    warnings: list[str]
    code: str

    def step(self, name: str) -> Step:
        """The step called ``name`` (``KeyError`` if there is none)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)


@dataclass(frozen=True)
class PerplexityTrace(Trace):
    """A perplexity trace; ``result`` is the corpus perplexity."""

    mean_nll: torch.Tensor  # over all counted tokens, in ``unit``
    unit: str  # "nats" (base e) or "bits" (base 2)
    token_count: int
    sequence_ids: torch.Tensor | None = None  # the distinct ids, in the order of per_sequence
    per_sequence: torch.Tensor | None = None  # perplexity of each sequence
    sequence_token_counts: torch.Tensor | None = None
    sampled: torch.Tensor | None = None  # tokens drawn from softmax(logits) when sample_seed is set
    sample_accuracy: torch.Tensor | None = None


class _Working:
    """Collects the steps and warnings while a function computes."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.warnings: list[str] = []

    def step(self, name: str, formula: str, value: torch.Tensor, note: str = "") -> torch.Tensor:
        self.steps.append(Step(name, formula, value, note))
        return value

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def trace(self, result: torch.Tensor, code: str) -> Trace:
        return Trace(result=result, steps=self.steps, warnings=self.warnings, code=code)


# --- softmax ----------------------------------------------------------------------------------


@torch.no_grad()
def softmax(logits: Any, dim: int = -1) -> Trace:
    r"""Softmax along ``dim``: scores become probabilities that sum to 1.

    .. math::
        \operatorname{softmax}(z)_i = \frac{e^{z_i - m}}{\sum_j e^{z_j - m}}, \qquad m = \max_j z_j

    Subtracting the maximum cancels out, but keeps ``exp`` from overflowing. Steps: ``max``,
    ``shifted``, ``exp``, ``sum``, ``probabilities``, ``log_softmax``.
    """
    z = _real(logits, "logits")
    dim = _check_dim(z, dim)
    work = _Working()
    _softmax_steps(work, z, dim)
    _softmax_warnings(work, z, dim)
    result = _call(F.softmax, z, dim=dim)
    code = _snippet([("logits", z)], [f"print(F.softmax(logits, dim={dim}))"])
    return work.trace(result, code)


@torch.no_grad()
def log_softmax(logits: Any, dim: int = -1) -> Trace:
    r"""Log-softmax along ``dim``: log-probabilities, computed without ever taking ``log(0)``.

    .. math::
        \log \operatorname{softmax}(z)_i = z_i - m - \log \sum_j e^{z_j - m},
        \qquad m = \max_j z_j

    Steps: ``max``, ``shifted``, ``exp``, ``sum``, ``log_sum``, ``log_softmax``.
    """
    z = _real(logits, "logits")
    dim = _check_dim(z, dim)
    work = _Working()
    shifted, _exp, total = _shift_exp_sum(work, z, dim)
    log_sum = work.step("log_sum", r"\log \sum_j e^{z_j - m}", total.log())
    work.step(
        "log_softmax",
        r"z_i - m - \log \sum_j e^{z_j - m}",
        shifted - log_sum,
        gettext_noop("m + log_sum is logsumexp(z); a class whose logit is -inf gets -inf"),
    )
    _softmax_warnings(work, z, dim)
    result = _call(F.log_softmax, z, dim=dim)
    code = _snippet([("logits", z)], [f"print(F.log_softmax(logits, dim={dim}))"])
    return work.trace(result, code)


def _shift_exp_sum(
    work: _Working, z: torch.Tensor, dim: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The steps softmax and log-softmax share: max, shifted, exp, sum."""
    m = work.step("max", r"m = \max_j z_j", z.amax(dim, keepdim=True))
    shifted = work.step("shifted", r"z_i - m", z - m, gettext_noop("the largest score becomes 0"))
    exp = work.step(
        "exp", r"e^{z_i - m}", shifted.exp(), gettext_noop("each between 0 and 1: no overflow")
    )
    total = work.step("sum", r"\sum_j e^{z_j - m}", exp.sum(dim, keepdim=True))
    return shifted, exp, total


def _softmax_steps(work: _Working, z: torch.Tensor, dim: int) -> torch.Tensor:
    shifted, exp, total = _shift_exp_sum(work, z, dim)
    probabilities = work.step(
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
    return probabilities


def _softmax_warnings(work: _Working, z: torch.Tensor, dim: int) -> None:
    low, high = _value_range(z)
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
                where=_where(all_minus_inf),
            )
        )


# --- entropy ----------------------------------------------------------------------------------


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
    Probabilities must be non-negative; a row that does not sum to 1 (within 1e-3) is divided by its
    sum, with a warning. ``base`` is ``"e"`` (nats) or ``"2"`` (bits).

    Steps: (``counts``, ``total`` for counts), ``probabilities``, ``log_p``, ``neg_p_log_p``,
    ``entropy_nats``, and ``entropy_bits`` for base 2.
    """
    given = [
        name
        for name, v in (("probs", probs), ("counts", counts), ("logits", logits))
        if v is not None
    ]
    if len(given) != 1:
        raise LossInputError(gettext_noop("give exactly one of probs, counts or logits"))
    bits = _base_is_two(base)
    work = _Working()
    lines: list[str] = []
    imports = {"torch"}
    if probs is not None:
        p = _real(probs, "probs")
        _check_distribution_values(p, "probs", gettext_noop("probability"))
        tensors = [("p", p)]
        sums = p.sum(-1)
        if (sums == 0).any():
            raise LossInputError(
                Text.of(
                    gettext_noop("a row of probs sums to 0, so it is not a distribution%(where)s"),
                    where=_where(sums == 0),
                ),
                field="probs",
            )
        off = (sums - 1).abs() > _SUM_TOLERANCE
        if off.any():
            first = sums[off].flatten()[0].item()
            work.warn(
                Text.of(
                    gettext_noop(
                        "probs should sum to 1 but a row sums to %(total)s%(where)s; each row was "
                        "divided by its sum before computing the entropy"
                    ),
                    total=f"{first:.4g}",
                    where=_where(off),
                )
            )
            p = p / p.sum(-1, keepdim=True)
            lines.append("p = p / p.sum(-1, keepdim=True)  # make every row sum to 1")
        probabilities = work.step("probabilities", r"p_i", p)
    elif counts is not None:
        c = _real(counts, "counts")
        _check_distribution_values(c, "counts", gettext_noop("count"))
        tensors = [("counts", c)]
        total = c.sum(-1, keepdim=True)
        if (total == 0).any():
            raise LossInputError(
                Text.of(
                    gettext_noop("a row of counts sums to 0, so it is not a distribution%(where)s"),
                    where=_where(total.squeeze(-1) == 0),
                ),
                field="counts",
            )
        work.step("counts", r"c_i", c)
        work.step("total", r"\sum_j c_j", total)
        probabilities = work.step(
            "probabilities", r"p_i = \frac{c_i}{\sum_j c_j}", c / c.sum(-1, keepdim=True)
        )
        lines.append("p = counts / counts.sum(-1, keepdim=True)")
    else:
        z = _real(logits, "logits")
        if z.dim() == 0:
            raise LossInputError(
                gettext_noop("the logits need at least one row of scores"), field="logits"
            )
        bad = ~torch.isfinite(z).any(-1) | z.isnan().any(-1) | (z == math.inf).any(-1)
        if bad.any():
            raise LossInputError(
                Text.of(
                    gettext_noop(
                        "a row of logits has no finite maximum (all -inf, or a nan/+inf), "
                        "so softmax is undefined there%(where)s"
                    ),
                    where=_where(bad),
                ),
                field="logits",
            )
        tensors = [("logits", z)]
        imports.add("F")
        probabilities = work.step(
            "probabilities", r"p_i = \operatorname{softmax}(z)_i", F.softmax(z, dim=-1)
        )
        lines.append("p = F.softmax(logits, dim=-1)")
    p = probabilities
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
    nats = neg_p_log_p.sum(-1)
    work.step(
        "entropy_nats",
        r"H = -\sum_i p_i \ln p_i",
        nats,
        Text.of(
            gettext_noop(
                "in nats; the most it can be for %(classes)s outcomes is ln %(classes)s = "
                "%(maximum)s (the uniform distribution)"
            ),
            classes=classes,
            maximum=f"{math.log(classes):.4f}",
        ),
    )
    if bits:
        imports.add("math")
        result = nats / math.log(2)
        work.step(
            "entropy_bits",
            r"H_2 = \frac{H}{\ln 2}",
            result,
            Text.of(
                gettext_noop(
                    "in bits: the average number of yes/no questions; at most log2 %(classes)s = "
                    "%(maximum)s"
                ),
                classes=classes,
                maximum=f"{math.log2(classes):.4f}",
            ),
        )
        lines.append("print(torch.special.entr(p).sum(-1) / math.log(2))")
    else:
        result = nats
        lines.append("print(torch.special.entr(p).sum(-1))")
    return work.trace(result, _snippet(tensors, lines, imports=imports))


def _base_is_two(base: str | float) -> bool:
    """``"2"``/``2`` → bits; ``"e"``/``math.e`` → nats."""
    if base == "e" or (isinstance(base, float) and math.isclose(base, math.e)):
        return False
    if base in ("2", 2):  # 2 == 2.0, so the float is accepted too
        return True
    raise LossInputError(gettext_noop("base must be 'e' (nats) or '2' (bits)"), field="base")


def _check_distribution_values(t: torch.Tensor, field: str, what: str) -> None:
    if t.dim() == 0:
        raise LossInputError(
            Text.of(
                gettext_noop("the %(field)s must be a list of numbers, not one number"), field=field
            ),
            field=field,
        )
    finite = torch.isfinite(t)
    if not finite.all():
        value = t[~finite].flatten()[0].item()
        raise LossInputError(
            Text.of(
                gettext_noop("%(what)s %(value)s in the %(field)s is not a finite number%(where)s"),
                what=Text.of(what),
                value=value,
                field=field,
                where=_where(~finite),
            ),
            field=field,
            index=_first_index(~finite),
        )
    negative = t < 0
    if negative.any():
        value = t[negative].flatten()[0].item()
        raise LossInputError(
            Text.of(
                gettext_noop("%(what)s %(value)s in the %(field)s is negative%(where)s"),
                what=Text.of(what),
                value=_number(value),
                field=field,
                where=_where(negative),
            ),
            field=field,
            index=_first_index(negative),
        )


# --- negative log-likelihood and cross-entropy ------------------------------------------------


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
    x = _real(input, "input")
    class_dim = _class_dim(x, "input")
    reduction = _check_reduction(reduction, ("none", "mean", "sum"))
    ignore_index = _check_ignore_index(ignore_index)
    target = _index_target(x, target, ignore_index)
    classes = x.shape[class_dim]
    w = _class_weight(weight, classes, x.dtype)
    work = _Working()
    _log_probability_warnings(work, x, class_dim, "NLLLoss")
    ignored, picked, class_weight, weighted = _nll_terms(work, x, target, w, ignore_index)
    _ignored_warnings(work, ignored, ignore_index, reduction)
    _picked_infinity_warnings(work, x, target, ignored, class_dim, picked=picked)
    _reduce(work, weighted, class_weight, reduction)
    result = _call(F.nll_loss, x, target, weight=w, ignore_index=ignore_index, reduction=reduction)
    tensors = [("log_probs", x), ("target", target)] + ([("weight", w)] if w is not None else [])
    kwargs = _kwargs(weight=w is not None, ignore_index=ignore_index, reduction=reduction)
    code = _snippet(tensors, [f"print(F.nll_loss(log_probs, target{kwargs}))"])
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
    z = _real(logits, "logits")
    class_dim = _class_dim(z, "logits")
    reduction = _check_reduction(reduction, ("none", "mean", "sum"))
    ignore_index = _check_ignore_index(ignore_index)
    label_smoothing = _check_label_smoothing(label_smoothing)
    classes = z.shape[class_dim]
    w = _class_weight(weight, classes, z.dtype)
    target_tensor = _tensor(target, "target")
    probability_target = tuple(target_tensor.shape) == tuple(z.shape)
    if probability_target:
        target = _real(target_tensor, "target").to(z.dtype)
        if ignore_index >= 0:  # F.cross_entropy refuses it (our loss is derived without calling it)
            raise LossInputError(
                Text.of(
                    gettext_noop(
                        "ignore_index %(ignore_index)s cannot be used with class probabilities as "
                        "the target: PyTorch supports ignore_index only for class indices (leave "
                        "it at -100)"
                    ),
                    ignore_index=ignore_index,
                ),
                field="ignore_index",
            )
    else:
        target = _index_target(z, target_tensor, ignore_index, probability_hint=True)

    work = _Working()
    # One reduction answers two checks: a row sum far from 1 rules out softmax output given as
    # logits, and a finite sum in every row rules out nan. Elementwise checks (each a full-size
    # temporary as big as the logits) run only when these cannot decide.
    row_sums = z.sum(class_dim)
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
        result = _probability_target_terms(
            work, log_p, target, w, label_smoothing, reduction, class_dim
        )
        if ignore_index != -100:
            work.warn(
                gettext_noop(
                    "ignore_index has no effect with probability targets (PyTorch ignores it)"
                )
            )
    else:
        result, ignored, picked = _index_target_terms(
            work, log_p, target, w, ignore_index, label_smoothing, reduction
        )
        _picked_infinity_warnings(work, log_p, target, ignored, class_dim, picked=picked)
    if not torch.isfinite(row_sums).all() and _has_nan(z):
        work.warn(gettext_noop("the logits contain nan, so the loss is nan"))
    tensors = [("logits", z), ("target", target)] + ([("weight", w)] if w is not None else [])
    kwargs = _kwargs(
        weight=w is not None,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )
    code = _snippet(tensors, [f"print(F.cross_entropy(logits, target{kwargs}))"])
    return work.trace(result, code)


def _index_target_terms(
    work: _Working,
    log_p: torch.Tensor,
    target: torch.Tensor,
    w: torch.Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The steps for class-index targets; returns F.cross_entropy's result, the ignored mask and
    the picked log-probabilities.

    The result is computed from ``log_p`` the way ATen's ``cross_entropy`` does (``nll_loss`` on the
    log-probabilities, plus for smoothing its own ``smooth_loss`` reduction), so it is bit for bit
    ``F.cross_entropy`` without a second log_softmax over the logits; the tests check the equality.
    """
    ignored, picked, class_weight, weighted = _nll_terms(work, log_p, target, w, ignore_index)
    _ignored_warnings(work, ignored, ignore_index, reduction)
    unsmoothed = _call(
        F.nll_loss, log_p, target, weight=w, ignore_index=ignore_index, reduction=reduction
    )
    result = unsmoothed
    per_example = weighted
    if label_smoothing > 0:
        class_dim = 0 if log_p.dim() == 1 else 1
        classes = log_p.shape[class_dim]
        w_view = _class_view(w, log_p) if w is not None else None
        spread = -(log_p * w_view).sum(class_dim) if w_view is not None else -log_p.sum(class_dim)
        smooth = work.step(
            "smooth",
            r"s_n = -\sum_c w_c \log p_{n,c}",
            torch.where(ignored, torch.zeros_like(spread), spread),
            gettext_noop(
                "the loss against a uniform target, times C; 0 where the target is ignored"
            ),
        )
        eps = label_smoothing
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
        # ATen reduces the smoothing term on its own and then mixes the two reduced losses.
        if reduction == "none":
            reduced_smooth = smooth
        elif reduction == "sum":
            reduced_smooth = smooth.sum()
        elif w is not None:
            counted = target.masked_select(~ignored).flatten()
            reduced_smooth = smooth.sum() / w.gather(0, counted).sum()
        else:
            reduced_smooth = smooth.sum() / (~ignored).sum()
        result = (1 - eps) * unsmoothed + reduced_smooth * (eps / classes)
    _reduce(work, per_example, class_weight, reduction)
    return result, ignored, picked


def _probability_target_terms(
    work: _Working,
    log_p: torch.Tensor,
    target: torch.Tensor,
    w: torch.Tensor | None,
    label_smoothing: float,
    reduction: str,
    class_dim: int,
) -> torch.Tensor:
    """The steps for class-probability targets; returns F.cross_entropy's result.

    ATen computes ``-(log_p * q * w).sum()`` (over the class dimension for 'none'), divided by the
    number of examples for 'mean'; the ``weighted`` step is that product negated, so the result is
    bit for bit PyTorch's from the step's own tensor. Full-size temporaries are negated and
    weighted in place: only ``log_p``, ``q`` and the terms are ever as big as the logits.
    """
    if _any_below(target, 0):
        work.warn(
            gettext_noop(
                "the target has negative values, but class probabilities are never negative"
            )
        )
    sums = target.sum(class_dim)
    off = (sums - 1).abs() > _SUM_TOLERANCE
    if off.any():
        work.warn(
            Text.of(
                gettext_noop(
                    "target rows should sum to 1 (class probabilities) but one sums to "
                    "%(total)s%(where)s"
                ),
                total=f"{sums[off].flatten()[0].item():.4g}",
                where=_where(off),
            )
        )
    if _any_equal(log_p, -math.inf) and ((target == 0) & (log_p == -math.inf)).any():
        work.warn(
            gettext_noop(
                "a class has logit -inf and target probability 0: PyTorch computes 0 · (−inf) = nan "
                "there, so the loss is nan"
            )
        )
    classes = log_p.shape[class_dim]
    q = target
    if label_smoothing > 0:
        eps = label_smoothing
        q = work.step(
            "smoothed_target",
            r"q_{n,c} = (1-\varepsilon)\,t_{n,c} + \frac{\varepsilon}{C}",
            target * (1 - eps) + eps / classes,
            Text.of(gettext_noop("ε = %(epsilon)s"), epsilon=f"{eps:g}"),
        )
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


def _nll_terms(
    work: _Working,
    log_p: torch.Tensor,
    target: torch.Tensor,
    w: torch.Tensor | None,
    ignore_index: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """ignored mask, picked log-probabilities, per-example weights, -w·log p (0 where ignored)."""
    class_dim = 0 if log_p.dim() == 1 else 1
    ignored = target == ignore_index
    safe = torch.where(ignored, torch.zeros_like(target), target)
    gathered = log_p.gather(class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)
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


def _reduce(
    work: _Working, per_example: torch.Tensor, class_weight: torch.Tensor, reduction: str
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
    work.step(
        "loss",
        r"\frac{\sum_n \ell_n}{\sum_n w_{y_n} \mathbb{1}[y_n \ne \text{ignore\_index}]}",
        numerator / denominator,
    )


def _ignored_warnings(
    work: _Working, ignored: torch.Tensor, ignore_index: int, reduction: str
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


def _picked_infinity_warnings(
    work: _Working,
    log_p: torch.Tensor,
    target: torch.Tensor,
    ignored: torch.Tensor,
    class_dim: int,
    *,
    picked: torch.Tensor | None = None,
) -> None:
    """Warn about counted targets whose loss is inf or nan; ``picked`` may come from _nll_terms
    (its ignored entries are 0, which neither check counts)."""
    if picked is None:
        safe = torch.where(ignored, torch.zeros_like(target), target)
        picked = log_p.gather(class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)
    impossible = (picked == -math.inf) & ~ignored
    if impossible.any():
        work.warn(
            Text.of(
                gettext_noop(
                    "a target class has probability 0 (its logit is -inf), so its loss is inf"
                    "%(where)s"
                ),
                where=_where(impossible),
            )
        )
    # A row that is nan throughout has a nan picked value, so only then is the full-size
    # isnan pass over log_p needed to tell "all nan" from a single nan.
    if not (picked.isnan() & ~ignored).any():
        return
    undefined = (log_p.isnan().all(class_dim)) & ~ignored
    if undefined.any():
        work.warn(
            Text.of(
                gettext_noop(
                    "an example has every logit -inf (or a nan), so its log-probabilities are nan"
                    "%(where)s"
                ),
                where=_where(undefined),
            )
        )


def _log_probability_warnings(work: _Working, x: torch.Tensor, class_dim: int, loss: str) -> None:
    """The classic mistake: probabilities (or raw logits) where log-probabilities belong."""
    high = x.amax().item()  # nan if any value is nan
    finite_high = _finite_max(x, high)
    if finite_high is None or finite_high <= 1e-6:
        if high <= 0:  # every value <= 0 (a nan fails this, as it fails (x <= 0).all())
            total = x.exp().sum(class_dim)
            off = (total - 1).abs() > 1e-2
            if off.any():
                work.warn(
                    Text.of(
                        gettext_noop(
                            "exp(input) should sum to 1 over the classes but sums to "
                            "%(total)s%(where)s: %(loss)s expects log_softmax output"
                        ),
                        total=f"{total[off].flatten()[0].item():.4g}",
                        where=_where(off),
                        loss=loss,
                    )
                )
        return
    if _finite_min(x) >= 0 and finite_high <= 1:
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
    work: _Working, z: torch.Tensor, class_dim: int, row_sums: torch.Tensor
) -> None:
    """Softmax output passed as logits: every value in [0, 1] and every row summing to 1.

    ``row_sums`` is ``z.sum(class_dim)``; the full pass over the values runs only when every row
    sums to 1, which raw logits almost never do.
    """
    if z.shape[class_dim] < 2 or not ((row_sums - 1).abs() <= _SUM_TOLERANCE).all():
        return
    low, high = _value_range(z)
    if low >= 0 and high <= 1:  # nan fails both, as it fails (z >= 0) & (z <= 1)
        work.warn(
            gettext_noop(
                "the logits look like probabilities (each row sums to 1): cross-entropy applies "
                "log_softmax itself, so pass raw scores, not softmax output"
            )
        )


# --- KL divergence ----------------------------------------------------------------------------


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
    log_q = _real(input, "input")
    if log_q.dim() == 0:
        raise LossInputError(
            gettext_noop("the input must be a list of log-probabilities"), field="input"
        )
    reduction = _check_reduction(reduction, ("none", "mean", "sum", "batchmean"))
    t = _real(target, "target").to(log_q.dtype)
    if t.shape != log_q.shape:
        raise LossInputError(
            Text.of(
                gettext_noop("target shape %(target)s does not match input shape %(input)s"),
                target=_shape(t.shape),
                input=_shape(log_q.shape),
            ),
            field="target",
        )
    log_target = bool(log_target)
    work = _Working()
    if reduction == "mean":
        work.warn(KL_MEAN_WARNING)
    _kl_input_warnings(work, log_q)
    if not log_target and _any_below(t, 0):
        work.warn(
            gettext_noop(
                "the target has negative values; with log_target=False it must hold probabilities p "
                "(pass log_target=True if it holds log p)"
            )
        )
    if log_target and _any_above(t, 1e-6):
        work.warn(
            gettext_noop(
                "the target has positive values, but with log_target=True it must hold log p, "
                "which is never positive"
            )
        )
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
    # F.kl_div's own reduction of these terms: ATen's kl_div reduces its output with sum() or
    # mean(), and F.kl_div divides the sum by input.size(0) for 'batchmean'. (Calling F.kl_div would
    # recompute every term and, for 'mean', call warnings.warn, which is not thread-safe to silence.)
    total = pointwise.sum() if reduction != "none" else None
    # a nan term makes the total nan, so a number there rules out the elementwise look
    maybe_nan = total is None or bool(total.isnan())
    nan_terms = maybe_nan and _has_nan(pointwise)
    if nan_terms and (pointwise.isnan() & ~t.isnan() & ~log_q.isnan()).any():
        work.warn(
            gettext_noop(
                "some terms are nan: a target probability of 0 meets log q = -inf (0 · −inf), "
                "or a target is negative"
            )
        )
    if total is None:
        work.step("loss", r"\ell_i", pointwise)
        result = pointwise
    elif reduction == "sum":
        result = work.step("loss", r"\sum_i \ell_i", total)
    else:
        work.step("total", r"\sum_i \ell_i", total)
        if reduction == "batchmean":
            count = log_q.shape[0]
            note = gettext_noop(
                "batchmean divides by the batch size N = input.size(0): the KL per example"
            )
            result = total / count
        else:
            count = log_q.numel()
            note = gettext_noop(
                "mean divides by every element (batch × support), which is not the KL divergence"
            )
            result = pointwise.mean()
        denominator = work.step(
            "denominator",
            r"N" if reduction == "batchmean" else r"N \cdot C",
            torch.tensor(float(count), dtype=log_q.dtype),
            note,
        )
        work.step(
            "loss",
            r"\frac{1}{" + ("N" if reduction == "batchmean" else "NC") + r"} \sum_i \ell_i",
            total / denominator,
        )
    names = ("log_q", "log_p" if log_target else "p")
    kwargs = _kwargs(reduction=reduction, log_target=log_target, default_reduction="mean")
    code = _snippet(
        [(names[0], log_q), (names[1], t)], [f"print(F.kl_div({names[0]}, {names[1]}{kwargs}))"]
    )
    return work.trace(result, code)


def _kl_input_warnings(work: _Working, log_q: torch.Tensor) -> None:
    finite_high = _finite_max(log_q, log_q.amax().item())
    if finite_high is not None and finite_high > 1e-6:
        work.warn(
            gettext_noop(
                "the input has positive values, but log-probabilities are never positive: kl_div "
                "expects log q (for example F.log_softmax output), not probabilities — the classic "
                "mistake"
            )
        )
        return
    total = log_q.exp().sum(-1)
    off = (total - 1).abs() > 1e-2
    if off.any():
        work.warn(
            Text.of(
                gettext_noop(
                    "exp(input) should sum to 1 over the last dimension but sums to "
                    "%(total)s%(where)s: kl_div expects log-probabilities of a distribution "
                    "(F.log_softmax output)"
                ),
                total=f"{total[off].flatten()[0].item():.4g}",
                where=_where(off),
            )
        )


# --- perplexity -------------------------------------------------------------------------------


@torch.no_grad()
def perplexity(
    logits: Any,
    target: Any,
    *,
    sequence_ids: Any = None,
    ignore_index: int = -100,
    base: str | float = "e",
    sample_seed: int | None = None,
) -> PerplexityTrace:
    r"""Perplexity of next-token predictions: the exponential of the mean negative log-likelihood.

    .. math::
        \text{NLL}_t = -\log p_{t, y_t}, \qquad
        \overline{\text{NLL}} = \frac{1}{T} \sum_{t \text{ counted}} \text{NLL}_t, \qquad
        \text{PPL} = e^{\overline{\text{NLL}}} = 2^{\overline{\text{NLL}} / \ln 2}

    ``logits`` (N, C) hold one row of scores per token, ``target`` (N) the next tokens; targets equal
    to ``ignore_index`` are not counted. The corpus perplexity (``result``) is ``exp`` of
    ``F.cross_entropy(logits, target, ignore_index=...)``. ``sequence_ids`` (N) group tokens into
    sequences (any integers); each sequence's perplexity is computed with ``index_add_`` and
    ``bincount``. ``base="2"`` reports the NLL in bits; perplexity itself does not depend on the base.
    ``sample_seed`` draws one token per row from ``softmax(logits)`` with ``torch.multinomial`` and
    a seeded generator, and reports how often the draw equals the target.

    Steps: ``token_nll``, ``counted``, ``total_nll``, ``token_count``, ``mean_nll``
    (``mean_nll_bits`` for base 2), ``perplexity``; with sequence ids ``sequence_index``,
    ``sequence_nll``, ``sequence_tokens``, ``sequence_perplexity``; with a seed ``sampled``,
    ``sample_accuracy``.
    """
    z = _real(logits, "logits")
    if z.dim() != 2:
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "perplexity needs logits of shape (N, C), one row of scores per token; got "
                    "shape %(shape)s (reshape a batch (B, T, C) to (B·T, C) and pass sequence_ids)"
                ),
                shape=_shape(z.shape),
            ),
            field="logits",
        )
    ignore_index = _check_ignore_index(ignore_index)
    bits = _base_is_two(base)
    target = _index_target(z, target, ignore_index)
    tokens = z.shape[0]
    ids = None
    if sequence_ids is not None:
        ids = _whole_numbers(sequence_ids, "sequence_ids", gettext_noop("sequence id"))
        if ids.shape != (tokens,):
            raise LossInputError(
                Text.of(
                    gettext_noop(
                        "sequence_ids has shape %(shape)s but there are %(tokens)s tokens: "
                        "give one sequence id per token"
                    ),
                    shape=_shape(ids.shape),
                    tokens=tokens,
                ),
                field="sequence_ids",
            )
    if sample_seed is not None and (
        isinstance(sample_seed, bool) or not isinstance(sample_seed, int) or sample_seed < 0
    ):
        raise LossInputError(
            gettext_noop("sample_seed must be a whole number ≥ 0"), field="sample_seed"
        )
    if sample_seed is not None and sample_seed >= 2**63:
        raise LossInputError(gettext_noop("sample_seed must be below 2**63"), field="sample_seed")
    if sample_seed is not None and z.shape[1] > 2**24:
        raise LossInputError(
            gettext_noop("torch.multinomial samples from at most 2**24 classes"),
            field="sample_seed",
        )

    work = _Working()
    # log_softmax once; F.cross_entropy without smoothing is exactly nll_loss of it, so the token
    # losses, the mean and the warnings all come from this one tensor.
    log_p = F.log_softmax(z, dim=1)
    token_nll = work.step(
        "token_nll",
        r"\text{NLL}_t = -\log p_{t,y_t}",
        _call(F.nll_loss, log_p, target, ignore_index=ignore_index, reduction="none"),
        gettext_noop(
            "in nats: F.cross_entropy(..., reduction='none'); 0 where the target is ignored"
        ),
    )
    counted = work.step(
        "counted", r"\mathbb{1}[y_t \ne \text{ignore\_index}]", target != ignore_index
    )
    total_nll = work.step("total_nll", r"\sum_t \text{NLL}_t", token_nll.sum())
    count = int(counted.sum())
    token_count = work.step("token_count", r"T", torch.tensor(count))
    if count == 0:
        work.warn(
            Text.of(
                gettext_noop(
                    "every target equals ignore_index (%(ignore_index)s), so the mean divides 0 "
                    "by 0: the perplexity is nan"
                ),
                ignore_index=ignore_index,
            )
        )
    _picked_infinity_warnings(work, log_p, target, ~counted, 1)
    mean_nats = _call(F.nll_loss, log_p, target, ignore_index=ignore_index, reduction="mean")
    work.step(
        "mean_nll",
        r"\overline{\text{NLL}} = \frac{1}{T} \sum_t \text{NLL}_t",
        total_nll / token_count,
        gettext_noop("in nats; the same as F.cross_entropy(logits, target) with reduction='mean'"),
    )
    imports = {"torch", "F"}
    if bits:
        imports.add("math")
        mean_nll = work.step(
            "mean_nll_bits",
            r"\frac{\overline{\text{NLL}}}{\ln 2}",
            mean_nats / math.log(2),
            gettext_noop("in bits: divide nats by ln 2"),
        )
        result = 2**mean_nll
        work.step(
            "perplexity",
            r"\text{PPL} = 2^{\overline{\text{NLL}}_2} = e^{\overline{\text{NLL}}}",
            result,
            gettext_noop(
                "2^(nats / ln 2) = e^nats: perplexity is the same in every base; only the unit of "
                "the NLL (bits instead of nats) changes"
            ),
        )
        print_result = "print(2 ** (F.cross_entropy(logits, target{kw}) / math.log(2)))"
    else:
        mean_nll = mean_nats
        result = mean_nats.exp()
        work.step(
            "perplexity",
            r"\text{PPL} = e^{\overline{\text{NLL}}}",
            result,
            gettext_noop(
                "the effective number of equally likely choices per token; 1 is perfect, C is a "
                "uniform guess over the vocabulary"
            ),
        )
        print_result = "print(torch.exp(F.cross_entropy(logits, target{kw})))"

    kw = _kwargs(ignore_index=ignore_index)
    tensors = [("logits", z), ("target", target)]
    lines: list[str] = []
    unique_ids = per_sequence = sequence_tokens = None
    if ids is not None:
        unique_ids, index = torch.unique(ids, sorted=True, return_inverse=True)
        work.step(
            "sequence_index",
            r"s_t",
            index,
            gettext_noop(
                "each token's sequence, numbered 0, 1, … in the order of the sorted sequence ids"
            ),
        )
        sequence_nll = work.step(
            "sequence_nll",
            r"\sum_{t \in s} \text{NLL}_t",
            torch.zeros(len(unique_ids), dtype=z.dtype).index_add_(0, index, token_nll),
            gettext_noop("index_add_: the NLL of every token added to its sequence's total"),
        )
        sequence_tokens = work.step(
            "sequence_tokens",
            r"T_s",
            torch.bincount(index[counted], minlength=len(unique_ids)),
            gettext_noop("bincount of the counted tokens' sequence numbers"),
        )
        sequence_mean = sequence_nll / sequence_tokens
        per_sequence = 2 ** (sequence_mean / math.log(2)) if bits else sequence_mean.exp()
        work.step(
            "sequence_perplexity",
            r"\text{PPL}_s = e^{\frac{1}{T_s}\sum_{t \in s} \text{NLL}_t}",
            per_sequence,
            gettext_noop("each sequence on its own; the corpus perplexity is not their average"),
        )
        if (sequence_tokens == 0).any():
            work.warn(
                Text.of(
                    gettext_noop(
                        "a sequence has every target equal to ignore_index, so its perplexity is "
                        "nan%(where)s"
                    ),
                    where=_where(sequence_tokens == 0),
                )
            )
        tensors.append(("sequence_ids", ids))
        lines += [
            f"token_nll = F.cross_entropy(logits, target{_kwargs(ignore_index=ignore_index)}, "
            "reduction='none')",
            f"counted = target != {ignore_index}",
            "ids, seq = torch.unique(sequence_ids, sorted=True, return_inverse=True)",
            "seq_nll = torch.zeros(len(ids), dtype=token_nll.dtype).index_add_(0, seq, token_nll)",
            "seq_tokens = torch.bincount(seq[counted], minlength=len(ids))",
            "print(2 ** (seq_nll / seq_tokens / math.log(2)))  # per sequence"
            if bits
            else "print(torch.exp(seq_nll / seq_tokens))  # per sequence",
        ]

    sampled = sample_accuracy = None
    if sample_seed is not None:
        probabilities = F.softmax(z, dim=-1)
        broken = ~torch.isfinite(probabilities.sum(-1))  # a nan anywhere makes the sum nan
        if broken.any():
            raise LossInputError(
                Text.of(
                    gettext_noop(
                        "cannot sample from a row of the logits whose probabilities are nan "
                        "(every logit -inf, or a nan/+inf)%(where)s"
                    ),
                    where=_where(broken),
                ),
                field="logits",
            )
        generator = torch.Generator().manual_seed(sample_seed)
        sampled = work.step(
            "sampled",
            r"\hat{y}_t \sim \operatorname{softmax}(z_t)",
            torch.multinomial(probabilities, 1, generator=generator).squeeze(1),
            Text.of(
                gettext_noop(
                    "one token drawn per row with torch.multinomial, generator seeded with %(seed)s"
                ),
                seed=sample_seed,
            ),
        )
        hits = (sampled == target) & counted
        sample_accuracy = work.step(
            "sample_accuracy",
            r"\frac{1}{T} \sum_t \mathbb{1}[\hat{y}_t = y_t]",
            hits.sum().to(z.dtype) / count if count else torch.tensor(math.nan, dtype=z.dtype),
            gettext_noop("how often the sampled token equals the target, over the counted tokens"),
        )
        lines += [
            f"generator = torch.Generator().manual_seed({sample_seed})",
            "sampled = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)",
            "print(sampled.squeeze(1))",
        ]
    lines.append(print_result.format(kw=kw))
    return PerplexityTrace(
        result=result,
        steps=work.steps,
        warnings=work.warnings,
        code=_snippet(tensors, lines, imports=imports),
        mean_nll=mean_nll,
        unit="bits" if bits else "nats",
        token_count=count,
        sequence_ids=unique_ids,
        per_sequence=per_sequence,
        sequence_token_counts=sequence_tokens,
        sampled=sampled,
        sample_accuracy=sample_accuracy,
    )


# --- binary cross-entropy ---------------------------------------------------------------------


@torch.no_grad()
def binary_cross_entropy_with_logits(
    logits: Any,
    target: Any,
    *,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
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
    x = _real(logits, "logits")
    reduction = _check_reduction(reduction, ("none", "mean", "sum"))
    y = _real(target, "target").to(x.dtype)
    if y.shape != x.shape:
        raise LossInputError(
            Text.of(
                gettext_noop("target shape %(target)s does not match logits shape %(logits)s"),
                target=_shape(y.shape),
                logits=_shape(x.shape),
            ),
            field="target",
        )
    w = _broadcastable(weight, x, "weight")
    pw = _broadcastable(pos_weight, x, "pos_weight")
    work = _Working()
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
    log_sig = work.step(
        "log_sigmoid", r"\log \sigma(x_i) = -\operatorname{softplus}(-x_i)", F.logsigmoid(x)
    )
    log_one_minus = work.step(
        "log_one_minus_sigmoid",
        r"\log (1 - \sigma(x_i)) = -\operatorname{softplus}(x_i)",
        F.logsigmoid(-x),
    )
    positive = y * log_sig if pw is None else pw * y * log_sig
    positive = work.step(
        "positive_term",
        r"p_w \, y_i \log \sigma(x_i)" if pw is not None else r"y_i \log \sigma(x_i)",
        positive,
        gettext_noop("pos_weight > 1 makes missed positives cost more") if pw is not None else "",
    )
    negative = work.step(
        "negative_term", r"(1 - y_i) \log (1 - \sigma(x_i))", (1 - y) * log_one_minus
    )
    elementwise = -(positive + negative)
    if w is not None:
        elementwise = w * elementwise
    weighted = work.step(
        "weighted",
        r"\ell_i = -w_i [\, \cdots ]" if w is not None else r"\ell_i = -[\, \cdots ]",
        elementwise,
        gettext_noop("the loss of each element"),
    )
    if reduction == "none":
        work.step("loss", r"\ell_i", weighted)
    elif reduction == "sum":
        work.step("loss", r"\sum_i \ell_i", weighted.sum())
    else:
        denominator = work.step(
            "denominator",
            r"N",
            torch.tensor(float(x.numel()), dtype=x.dtype),
            gettext_noop("the mean is over every element"),
        )
        work.step("loss", r"\frac{1}{N} \sum_i \ell_i", weighted.sum() / denominator)
    result = _call(
        F.binary_cross_entropy_with_logits, x, y, weight=w, pos_weight=pw, reduction=reduction
    )
    tensors = [("logits", x), ("target", y)]
    tensors += [("weight", w)] if w is not None else []
    tensors += [("pos_weight", pw)] if pw is not None else []
    kwargs = _kwargs(weight=w is not None, pos_weight=pw is not None, reduction=reduction)
    code = _snippet(tensors, [f"print(F.binary_cross_entropy_with_logits(logits, target{kwargs}))"])
    return work.trace(result, code)


def _broadcastable(value: Any, x: torch.Tensor, field: str) -> torch.Tensor | None:
    if value is None:
        return None
    t = _real(value, field).to(x.dtype)
    try:
        fits = torch.broadcast_shapes(t.shape, x.shape) == x.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "%(field)s shape %(shape)s cannot be broadcast to the logits shape %(logits)s"
                ),
                field=field,
                shape=_shape(t.shape),
                logits=_shape(x.shape),
            ),
            field=field,
        )
    return t


# --- cheap facts about big tensors -------------------------------------------------------------
# An elementwise check such as ``(z < 0).any()`` writes a temporary as big as the input and walks it
# again: on a (512, 32000) upload each costs about as much as the loss itself. A reduction (amin,
# amax, aminmax) reads the data once and allocates nothing, and NaN propagates through it; the
# exact elementwise check runs only when the reduction cannot decide (a NaN somewhere).


def _value_range(t: torch.Tensor) -> tuple[float, float]:
    """The smallest and largest value, in one pass; both nan if any value is nan."""
    low, high = torch.aminmax(t)
    return low.item(), high.item()


def _has_nan(t: torch.Tensor) -> bool:
    return math.isnan(t.amax().item())


def _any_below(t: torch.Tensor, bound: float) -> bool:
    """``(t < bound).any()``."""
    low = t.amin().item()
    return bool((t < bound).any()) if math.isnan(low) else low < bound


def _any_above(t: torch.Tensor, bound: float) -> bool:
    """``(t > bound).any()``."""
    high = t.amax().item()
    return bool((t > bound).any()) if math.isnan(high) else high > bound


def _any_equal(t: torch.Tensor, value: float) -> bool:
    """``(t == value).any()`` for value ±inf."""
    extreme = (t.amin() if value < 0 else t.amax()).item()
    return bool((t == value).any()) if math.isnan(extreme) else extreme == value


def _finite_max(t: torch.Tensor, high: float) -> float | None:
    """The largest finite value of t (None if there is none), given ``high = t.amax()``."""
    if math.isnan(high) or high == math.inf:
        finite = t[torch.isfinite(t)]  # rare: nan or +inf present, so the exact, copying way
        return finite.amax().item() if finite.numel() else None
    return None if high == -math.inf else high


def _finite_min(t: torch.Tensor) -> float:
    """The smallest finite value of t (+inf if there is none)."""
    low = t.amin().item()
    if math.isnan(low) or low == -math.inf:
        finite = t[torch.isfinite(t)]
        return finite.amin().item() if finite.numel() else math.inf
    return low


# --- checks -----------------------------------------------------------------------------------


def _tensor(value: Any, field: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
        raise LossInputError(_must_be_numbers(field), field=field)
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        raise LossInputError(_must_be_numbers(field), field=field) from None


def _real(value: Any, field: str) -> torch.Tensor:
    """A float32 or float64 tensor (other float and integer types become float32)."""
    t = _tensor(value, field)
    if t.is_complex():
        raise LossInputError(
            Text.of(
                gettext_noop("the %(field)s hold complex numbers; losses need real numbers"),
                field=field,
            ),
            field=field,
        )
    if t.numel() == 0:
        raise LossInputError(_empty(field), field=field)
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t


def _whole_numbers(value: Any, field: str, what: str) -> torch.Tensor:
    t = _tensor(value, field)
    if t.is_complex():
        raise LossInputError(
            Text.of(gettext_noop("the %(field)s must be whole numbers"), field=field), field=field
        )
    if t.numel() == 0:
        raise LossInputError(_empty(field), field=field)
    if t.is_floating_point():
        whole = torch.isfinite(t) & (t == t.round())
        if not whole.all():
            value = t[~whole].flatten()[0].item()
            raise LossInputError(
                Text.of(
                    gettext_noop("%(what)s %(value)s is not a whole number"),
                    what=Text.of(what),
                    value=_number(value),
                ),
                field=field,
                index=_first_index(~whole),
            )
    return t.to(torch.long)


def _class_dim(x: torch.Tensor, field: str) -> int:
    if x.dim() == 0:
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "the %(field)s need a class dimension: C numbers for one example, or N rows "
                    "of C numbers"
                )
                if field.endswith("s")
                else gettext_noop(
                    "the %(field)s needs a class dimension: C numbers for one example, or N rows "
                    "of C numbers"
                ),
                field=field,
            ),
            field=field,
        )
    return 0 if x.dim() == 1 else 1


def _index_target(
    x: torch.Tensor, target: Any, ignore_index: int, *, probability_hint: bool = False
) -> torch.Tensor:
    """Class indices of the right shape, each in range or equal to ignore_index."""
    t = _whole_numbers(target, "target", gettext_noop("target"))
    class_dim = 0 if x.dim() == 1 else 1
    classes = x.shape[class_dim]
    expected = () if x.dim() == 1 else (x.shape[0], *x.shape[2:])
    if x.dim() == 1 and t.shape == (1,):
        t = t.reshape(())  # one example: a target [3] means the class index 3
    if tuple(t.shape) != expected:
        if x.dim() == 2 and t.dim() == 1:
            template = gettext_noop(
                "target shape %(target)s does not match input batch (%(batch)s)%(hint)s"
            )
        elif x.dim() == 1:
            template = gettext_noop(
                "target shape %(target)s does not fit one example of %(classes)s classes: "
                "give a single class index%(hint)s"
            )
        else:
            template = gettext_noop(
                "target shape %(target)s does not match input shape %(input)s: class indices "
                "need shape %(expected)s, the input shape without its class dimension%(hint)s"
            )
        hint = (
            Text.of(
                gettext_noop(" (or give class probabilities of shape %(shape)s)"),
                shape=_shape(x.shape),
            )
            if probability_hint
            else ""
        )
        message = Text.of(
            template,
            target=_shape(t.shape),
            batch=x.shape[0],
            classes=classes,
            input=_shape(x.shape),
            expected=_shape(expected),
            hint=hint,
        )
        raise LossInputError(message, field="target")
    valid = (t == ignore_index) | ((t >= 0) & (t < classes))
    if not valid.all():
        bad = int(t[~valid].flatten()[0])
        allowed = "0" if classes == 1 else f"0–{classes - 1}"
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "target %(value)s is out of range for %(classes)s classes (valid: %(allowed)s, "
                    "or ignore_index %(ignore_index)s)"
                ),
                value=bad,
                classes=classes,
                allowed=allowed,
                ignore_index=ignore_index,
            ),
            field="target",
            index=_first_index(~valid),
        )
    return t


def _class_weight(weight: Any, classes: int, dtype: torch.dtype) -> torch.Tensor | None:
    if weight is None:
        return None
    w = _real(weight, "weight")
    if w.dim() != 1 or w.numel() != classes:
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "input has %(classes)s classes but weight has %(count)s values%(shape)s"
                ),
                classes=classes,
                count=w.numel(),
                shape=""
                if w.dim() == 1
                else Text.of(
                    gettext_noop(" (shape %(shape)s; give one value per class)"),
                    shape=_shape(w.shape),
                ),
            ),
            field="weight",
        )
    if not torch.isfinite(w).all():
        raise LossInputError(gettext_noop("the weight must be finite numbers"), field="weight")
    return w.to(dtype)


def _class_view(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Weights shaped to broadcast along the class dimension of x."""
    if x.dim() == 1:
        return w
    return w.view(1, -1, *([1] * (x.dim() - 2)))


def _check_dim(x: torch.Tensor, dim: Any) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise LossInputError(gettext_noop("dim must be a whole number"), field="dim")
    rank = max(x.dim(), 1)
    if not -rank <= dim < rank:
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "dim %(dim)s is out of range for logits with %(rank)s dimension (valid: "
                    "%(low)s to %(high)s)"
                )
                if x.dim() == 1
                else gettext_noop(
                    "dim %(dim)s is out of range for logits with %(rank)s dimensions (valid: "
                    "%(low)s to %(high)s)"
                ),
                dim=dim,
                rank=x.dim(),
                low=-rank,
                high=rank - 1,
            ),
            field="dim",
        )
    return dim


def _check_reduction(reduction: Any, allowed: Sequence[str]) -> str:
    if reduction not in allowed:
        raise LossInputError(
            Text.of(
                gettext_noop("reduction must be one of %(allowed)s"), allowed=", ".join(allowed)
            ),
            field="reduction",
        )
    return reduction


def _check_ignore_index(ignore_index: Any) -> int:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise LossInputError(
            gettext_noop("ignore_index must be a whole number"), field="ignore_index"
        )
    return ignore_index


def _check_label_smoothing(label_smoothing: Any) -> float:
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, int | float):
        raise LossInputError(
            gettext_noop("label_smoothing must be a number"), field="label_smoothing"
        )
    if not 0.0 <= label_smoothing <= 1.0:
        raise LossInputError(
            Text.of(
                gettext_noop("label_smoothing must be between 0 and 1 (got %(value)s)"),
                value=f"{label_smoothing:g}",
            ),
            field="label_smoothing",
        )
    return float(label_smoothing)


def _call(function: Callable[..., torch.Tensor], *args: Any, **kwargs: Any) -> torch.Tensor:
    """Call PyTorch; our checks should make failure impossible, but never show its text."""
    try:
        return function(*args, **kwargs)
    except RuntimeError as error:
        raise LossInputError(
            gettext_noop(
                "PyTorch could not compute this for these inputs; please check their shapes"
            )
        ) from error


def _first_index(mask: torch.Tensor) -> list[int]:
    if mask.dim() == 0:
        return []
    return [int(i) for i in mask.nonzero()[0]]


def _where(mask: torch.Tensor) -> str:
    """ " (at [1, 2])" for the first True element of mask, or "" for a 0-d mask."""
    index = _first_index(mask)
    return Text.of(gettext_noop(" (at %(index)s)"), index=index) if index else ""


def _shape(shape: Sequence[int]) -> str:
    return str(tuple(int(n) for n in shape))


def _number(value: float) -> str:
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return f"{value:g}"


def _empty(field: str) -> Text:
    if field.endswith("s"):
        return Text.of(gettext_noop("the %(field)s are empty"), field=field)
    return Text.of(gettext_noop("the %(field)s is empty"), field=field)


def _must_be_numbers(field: str) -> Text:
    return Text.of(gettext_noop("the %(field)s must be numbers"), field=field)


# --- code snippets ----------------------------------------------------------------------------


def _kwargs(
    *,
    weight: bool = False,
    pos_weight: bool = False,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    log_target: bool = False,
    default_reduction: str = "mean",
) -> str:
    """Keyword arguments that differ from PyTorch's defaults, as code."""
    parts = []
    if weight:
        parts.append("weight=weight")
    if pos_weight:
        parts.append("pos_weight=pos_weight")
    if ignore_index != -100:
        parts.append(f"ignore_index={ignore_index}")
    if label_smoothing:
        parts.append(f"label_smoothing={label_smoothing!r}")
    if reduction != default_reduction:
        parts.append(f"reduction={reduction!r}")
    if log_target:
        parts.append("log_target=True")
    return "".join(f", {part}" for part in parts)


def _snippet(
    tensors: list[tuple[str, torch.Tensor]], lines: list[str], *, imports: set[str] | None = None
) -> str:
    imports = imports if imports is not None else {"torch", "F"}
    header = []
    if "math" in imports:
        header.append("import math")
    header.append("import torch")
    if "F" in imports:
        header.append("import torch.nn.functional as F")
    body = [line for name, t in tensors for line in _assignment(name, t)]
    return "\n".join([*header, "", *body, *lines]) + "\n"


def _assignment(name: str, t: torch.Tensor) -> list[str]:
    if t.numel() <= MAX_LITERAL_NUMBERS:
        return [f"{name} = {_literal(t)}"]
    dims = ", ".join(str(n) for n in t.shape)
    dtype = "" if t.dtype == torch.float32 else f", dtype={t.dtype}"
    return [
        f"# your {'×'.join(str(n) for n in t.shape)} {name}: too many numbers to write out here;",
        "# load them with torch.load(...) or torch.from_numpy(np.load(...)).",
        f"{name} = torch.zeros({dims}{dtype})  # a placeholder of the same shape: prints another value",
    ]


def _literal(t: torch.Tensor) -> str:
    nested = _float_texts(t.numpy()) if t.is_floating_point() else t.tolist()
    dtype = ""
    if t.dtype == torch.float64:
        dtype = ", dtype=torch.float64"
    elif t.dtype not in (torch.float32, torch.long):
        dtype = f", dtype={t.dtype}"
    return f"torch.tensor({_nested(nested)}{dtype})"


def _float_texts(array: np.ndarray) -> Any:
    if array.ndim == 0:
        return _float_text(array[()])
    return [_float_texts(row) for row in array]


def _float_text(x: np.floating) -> str:
    """The shortest text that reads back (through Python's float) to exactly this value."""
    if np.isnan(x):
        return "float('nan')"
    if np.isinf(x):
        return "float('inf')" if x > 0 else "-float('inf')"
    if x.dtype == np.float64:
        return repr(float(x))
    text = str(x)  # numpy's shortest round-trip text for this float32
    if np.float32(float(text)) != x:  # double rounding through float64: spell out every digit
        text = repr(float(x))
    return text


def _nested(items: Any) -> str:
    if not isinstance(items, list):
        return str(items)
    one_line = "[" + ", ".join(_nested(item) for item in items) + "]"
    if len(one_line) <= 72 or not items or not isinstance(items[0], list):
        return one_line
    rows = ",\n".join("    " + _nested(item) for item in items)
    return "[\n" + rows + ",\n]"
