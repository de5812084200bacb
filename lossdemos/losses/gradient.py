r"""Gradients of the losses: what training follows, by autograd and by the closed form beside it.

Each function answers :math:`\partial L / \partial x` for a loss :math:`L` of its first tensor input
:math:`x` (the logits, or the log-probabilities), where :math:`L` is the reduced loss, or the sum of
the per-element losses for ``reduction='none'``. ``value`` is ``torch.autograd.grad`` of PyTorch's
own function, in the input's dtype; ``closed_form`` is the textbook formula written out here, so a
reader sees that they agree (the tests check it to 1e-6 in float64):

- cross-entropy, class indices: :math:`(1-\varepsilon)\,w_{y}(p - \text{onehot}(y)) +
  \frac{\varepsilon}{C}(W p - w)`, divided by the total weight for 'mean' — softmax minus one-hot
  without weights or smoothing;
- cross-entropy, class probabilities :math:`q`: :math:`p \sum_c w_c q_c - w \odot q`;
- NLL: :math:`-w_y` at the target, 0 elsewhere — whatever the input's value;
- KL: :math:`-p`; binary cross-entropy with logits, perplexity and entropy: see their functions.

Inputs are the checked tensors the loss functions accept (class indices as ``long``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from kb.messages import gettext_noop
from lossdemos.losses.checks import class_dim_of

__all__ = [
    "Gradient",
    "bce_with_logits_gradient",
    "cross_entropy_gradient",
    "entropy_gradient",
    "kl_gradient",
    "nll_gradient",
    "perplexity_gradient",
]


@dataclass(frozen=True)
class Gradient:
    """∂(result)/∂(the first tensor input), by autograd and by its closed form."""

    of: str  # the input it is taken with respect to: "logits", "input", "probs", ...
    value: torch.Tensor  # torch.autograd.grad, in the input's dtype
    closed_form: torch.Tensor
    formula: str  # LaTeX of the closed form
    note: str = ""


def _autograd(x: torch.Tensor, loss_of, scale: float = 1.0) -> torch.Tensor:
    """∂ sum(loss_of(x)) / ∂x by autograd (the sum is the loss itself once reduced)."""
    leaf = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = loss_of(leaf)
        (grad,) = torch.autograd.grad(loss.sum() if loss.dim() else loss, leaf)
    return grad.mul_(scale) if scale != 1.0 else grad


def _class_view(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-class vector shaped to broadcast along the class dimension of x."""
    return values if x.dim() == 1 else values.view(1, -1, *([1] * (x.dim() - 2)))


def _one_hot(x: torch.Tensor, safe_target: torch.Tensor) -> torch.Tensor:
    dim = class_dim_of(x)
    return torch.zeros_like(x).scatter_(dim, safe_target.unsqueeze(dim), 1.0)


def _index_parts(
    x: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(per-class weights, safe targets, one-hot of the targets, each example's weight w_y·counted)."""
    classes = x.shape[class_dim_of(x)]
    w = weight if weight is not None else torch.ones(classes, dtype=x.dtype)
    ignored = target == ignore_index
    safe = torch.where(ignored, torch.zeros_like(target), target)
    w_y = torch.where(ignored, torch.zeros((), dtype=x.dtype), w[safe])
    return w, safe, _one_hot(x, safe), w_y


def _per_example(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A value per example, shaped to broadcast along x's class dimension."""
    return values.unsqueeze(class_dim_of(x))


def cross_entropy_gradient(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    probability_target: bool,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    scale: float = 1.0,
    log_p: torch.Tensor | None = None,
) -> Gradient:
    r"""∂L/∂z of ``F.cross_entropy``; ``scale`` is 1/ln 2 for a loss in bits.

    ``log_p``, the loss's own ``log_softmax(z)`` when the trace has it, saves a second pass over
    the logits: autograd then differentiates the loss as a function of ``log_p`` (the ATen
    composition: ``nll_loss`` plus the smoothing term) and chains it through log-softmax with
    PyTorch's own backward kernel, ``torch._log_softmax_backward_data`` — what autograd runs for
    ``F.cross_entropy``. On a (512, 32000) upload that halves the cost; the tests check it against
    ``torch.autograd`` of ``F.cross_entropy`` itself.
    """
    z = logits
    dim = class_dim_of(z)
    classes = z.shape[dim]
    eps = label_smoothing
    options = {"weight": weight, "ignore_index": ignore_index, "reduction": reduction}
    if log_p is None:
        value = _autograd(
            z, lambda leaf: F.cross_entropy(leaf, target, label_smoothing=eps, **options), scale
        )
        log_p = F.log_softmax(z, dim=dim)
    else:
        through_log_p = _autograd(
            log_p,
            lambda leaf: _cross_entropy_of_log_p(leaf, target, probability_target, eps, **options),
        )
        value = torch._log_softmax_backward_data(through_log_p, log_p, dim, log_p.dtype)
        if scale != 1.0:
            value.mul_(scale)
    p = log_p.exp()
    if probability_target:
        q = target * (1 - eps) + eps / classes if eps > 0 else target
        w = _class_view(weight, z) if weight is not None else None
        wq = q * w if w is not None else q
        closed = p.mul_(wq.sum(dim, keepdim=True)).sub_(wq)
        if reduction == "mean":
            closed /= z.numel() // classes
    else:
        closed = _index_closed_form(p, target, weight, ignore_index, eps, reduction)
    formula, note = _cross_entropy_formula(probability_target, weight is not None, eps, reduction)
    return Gradient("logits", value, closed.mul_(scale) if scale != 1.0 else closed, formula, note)


def _cross_entropy_formula(
    probability_target: bool, weighted: bool, eps: float, reduction: str
) -> tuple[str, str]:
    """The closed form cross-entropy's gradient is shown beside, in LaTeX, and its note."""
    if probability_target:
        formula = (
            r"\frac{\partial \ell_n}{\partial z_{n,c}} = p_{n,c} \sum_k w_k q_{n,k} - w_c q_{n,c}"
            if weighted
            else r"\frac{\partial \ell_n}{\partial z_{n,c}} = p_{n,c} \sum_k q_{n,k} - q_{n,c}"
        )
        if reduction == "mean":
            # L = (1/N) Σₙ ℓₙ: each row's gradient is its own, divided by N (not an elided sum)
            formula += (
                r", \quad \frac{\partial L}{\partial z_{n,c}} = "
                r"\frac{1}{N} \frac{\partial \ell_n}{\partial z_{n,c}}"
            )
        note = gettext_noop(
            "q is the target distribution (smoothed when ε > 0); the mean divides by the number "
            "of examples"
        )
        return formula, note
    if not weighted and eps == 0:
        formula = r"\frac{\partial \ell_n}{\partial z_{n,c}} = p_{n,c} - \mathbb{1}[c = y_n]"
    elif eps == 0:
        formula = (
            r"\frac{\partial \ell_n}{\partial z_{n,c}} = w_{y_n} (p_{n,c} - \mathbb{1}[c = y_n])"
        )
    else:
        formula = (
            r"\frac{\partial \ell_n}{\partial z_{n,c}} = (1-\varepsilon) w_{y_n} "
            r"(p_{n,c} - \mathbb{1}[c = y_n]) + \frac{\varepsilon}{C} "
            r"\left(p_{n,c} \sum_k w_k - w_c\right)"
        )
    if reduction == "mean":
        formula += (
            r", \quad \frac{\partial L}{\partial z_{n,c}} = "
            r"\frac{1}{\sum_m w_{y_m}} \frac{\partial \ell_n}{\partial z_{n,c}}"
        )
    note = gettext_noop(
        "softmax minus one-hot: negative at the target class, positive elsewhere; 0 for an "
        "ignored target; the mean divides by the total weight of the counted targets"
    )
    return formula, note


def _index_closed_form(
    p: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None,
    ignore_index: int,
    eps: float,
    reduction: str,
) -> torch.Tensor:
    r""":math:`(1-\varepsilon) w_y (p - \text{onehot}) + \frac{\varepsilon}{C}(W p - w)`, over the
    total weight for 'mean', written into ``p`` (a big gradient is one tensor, not five)."""
    dim = class_dim_of(p)
    classes = p.shape[dim]
    w, safe, _one, w_y = _index_parts_without_one_hot(p, target, weight, ignore_index)
    counted = (target != ignore_index).to(p.dtype)
    divisor = w_y.sum() if reduction == "mean" else torch.ones((), dtype=p.dtype)
    row = (1 - eps) * w_y + (eps / classes) * w.sum() * counted
    p.mul_(_per_example(row / divisor, p))
    p.scatter_add_(dim, safe.unsqueeze(dim), _per_example(-(1 - eps) * w_y / divisor, p))
    if eps > 0:
        p.addcmul_(_per_example(counted / divisor, p), _class_view(w, p), value=-eps / classes)
    return p


def _index_parts_without_one_hot(
    x: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor, None, torch.Tensor]:
    classes = x.shape[class_dim_of(x)]
    w = weight if weight is not None else torch.ones(classes, dtype=x.dtype)
    ignored = target == ignore_index
    safe = torch.where(ignored, torch.zeros_like(target), target)
    w_y = torch.where(ignored, torch.zeros((), dtype=x.dtype), w[safe])
    return w, safe, None, w_y


def _cross_entropy_of_log_p(
    log_p: torch.Tensor,
    target: torch.Tensor,
    probability_target: bool,
    eps: float,
    *,
    weight: torch.Tensor | None,
    ignore_index: int,
    reduction: str,
) -> torch.Tensor:
    """F.cross_entropy as ATen composes it from log_softmax's output (cross_entropy_loss)."""
    dim = class_dim_of(log_p)
    classes = log_p.shape[dim]
    w = _class_view(weight, log_p) if weight is not None else None
    if probability_target:
        q = target * (1 - eps) + eps / classes if eps > 0 else target
        terms = log_p * q if w is None else log_p * q * w
        per_example = -terms.sum(dim)
        if reduction == "none":
            return per_example
        total = per_example.sum()
        return total if reduction == "sum" else total / (log_p.numel() // classes)
    nll = F.nll_loss(log_p, target, weight=weight, ignore_index=ignore_index, reduction=reduction)
    if eps == 0:
        return nll
    ignored = target == ignore_index
    smooth = -(log_p * w).sum(dim) if w is not None else -log_p.sum(dim)
    smooth = smooth.masked_fill(ignored, 0.0)
    if reduction == "sum":
        smooth = smooth.sum()
    elif reduction == "mean":
        if weight is not None:
            smooth = smooth.sum() / weight[target.masked_select(~ignored)].sum()
        else:
            smooth = smooth.sum() / (~ignored).sum()
    return (1 - eps) * nll + smooth * (eps / classes)


def nll_gradient(
    log_probs: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    scale: float = 1.0,
) -> Gradient:
    r"""∂L/∂x of ``F.nll_loss``: :math:`-w_{y_n}` at each target, 0 elsewhere."""
    x = log_probs
    value = _autograd(
        x,
        lambda leaf: F.nll_loss(
            leaf, target, weight=weight, ignore_index=ignore_index, reduction=reduction
        ),
        scale,
    )
    _w, _safe, one_hot, w_y = _index_parts(x, target, weight, ignore_index)
    closed = -_per_example(w_y, x) * one_hot
    formula = r"\frac{\partial \ell_n}{\partial x_{n,c}} = -w_{y_n} \mathbb{1}[c = y_n]"
    if reduction == "mean":
        closed = closed / w_y.sum()
        formula += r" \,/ \sum_n w_{y_n}"
    note = gettext_noop(
        "the same at every value of the input: NLL reads only the target's entry and never "
        "normalises, so on raw logits this gradient never shrinks"
    )
    return Gradient("input", value, closed.mul_(scale) if scale != 1.0 else closed, formula, note)


def kl_gradient(
    log_q: torch.Tensor,
    target: torch.Tensor,
    *,
    log_target: bool = False,
    reduction: str = "mean",
    scale: float = 1.0,
) -> Gradient:
    r"""∂L/∂(log q) of ``F.kl_div``: :math:`-p`, divided as the reduction divides."""
    count = {"mean": log_q.numel(), "batchmean": log_q.shape[0] if log_q.dim() else 1}.get(
        reduction, 1
    )

    def loss_of(leaf: torch.Tensor) -> torch.Tensor:
        # 'none' summed, then divided: F.kl_div(reduction='mean') would call warnings.warn
        return F.kl_div(leaf, target, reduction="sum", log_target=log_target) / count

    value = _autograd(log_q, loss_of, scale)
    p = target.exp() if log_target else target
    closed = -p / count
    formula = r"\frac{\partial \ell_i}{\partial \log q_i} = -p_i"
    if count != 1:
        formula += r" \,/ \," + ("N" if reduction == "batchmean" else r"\text{numel}")
    note = gettext_noop(
        "minus the target probability: descent raises log q where p is large, and the "
        "softmax that makes log q shares the rise out of the other classes"
    )
    return Gradient("input", value, closed.mul_(scale) if scale != 1.0 else closed, formula, note)


def bce_with_logits_gradient(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
    reduction: str = "mean",
    scale: float = 1.0,
) -> Gradient:
    r"""∂L/∂z of ``F.binary_cross_entropy_with_logits``:
    :math:`w\,(\sigma(z)(p_w y + 1 - y) - p_w y)`."""
    value = _autograd(
        logits,
        lambda leaf: F.binary_cross_entropy_with_logits(
            leaf, target, weight=weight, pos_weight=pos_weight, reduction=reduction
        ),
        scale,
    )
    s = torch.sigmoid(logits)
    pw = pos_weight if pos_weight is not None else torch.ones((), dtype=logits.dtype)
    closed = s * (pw * target + 1 - target) - pw * target
    if weight is not None:
        closed = closed * weight
    closed = closed.expand(logits.shape).clone()
    formula = (
        r"\frac{\partial \ell_i}{\partial z_i} = w_i\,(\sigma(z_i)(p_w y_i + 1 - y_i) - p_w y_i)"
    )
    if reduction == "mean":
        closed /= logits.numel()
        formula += r" \,/ \, \text{numel}"
    note = gettext_noop("σ(z) − y without weights: the predicted probability minus the target")
    return Gradient("logits", value, closed.mul_(scale) if scale != 1.0 else closed, formula, note)


def perplexity_gradient(
    logits: torch.Tensor, target: torch.Tensor, *, ignore_index: int = -100
) -> Gradient:
    r"""∂PPL/∂z of the corpus perplexity :math:`e^{\bar\ell}`: :math:`\text{PPL}\,(p - \text{onehot})/T`."""
    value = _autograd(
        logits, lambda leaf: F.cross_entropy(leaf, target, ignore_index=ignore_index).exp()
    )
    _w, _safe, one_hot, counted = _index_parts(logits, target, None, ignore_index)
    p = F.softmax(logits, dim=1)
    mean_nll = F.cross_entropy(logits, target, ignore_index=ignore_index)
    closed = mean_nll.exp() * counted.unsqueeze(1) * (p - one_hot) / counted.sum()
    formula = (
        r"\frac{\partial\, \text{PPL}}{\partial z_{t,c}} = "
        r"\text{PPL} \cdot \frac{p_{t,c} - \mathbb{1}[c = y_t]}{T}"
    )
    note = gettext_noop(
        "the same in nats and in bits: perplexity does not depend on the base of the logarithm"
    )
    return Gradient("logits", value, closed, formula, note)


def entropy_gradient(source: str, x: torch.Tensor, *, bits: bool = False) -> Gradient:
    r"""∂(sum of each row's entropy)/∂x for ``probs``/``counts`` (divided by their row sum first) or
    ``logits`` (softmax first): :math:`-(\ln p_i + H)/S` and :math:`-p_i(\ln p_i + H)`."""
    scale = 1 / math.log(2) if bits else 1.0

    def entropy_of(leaf: torch.Tensor) -> torch.Tensor:
        p = F.softmax(leaf, dim=-1) if source == "logits" else leaf / leaf.sum(-1, keepdim=True)
        return torch.special.entr(p).sum(-1)

    value = _autograd(x, entropy_of, scale)
    if source == "logits":
        p = F.softmax(x, dim=-1)
        h = torch.special.entr(p).sum(-1, keepdim=True)
        closed = -p * (p.log() + h)
        formula = r"\frac{\partial H}{\partial z_i} = -p_i (\ln p_i + H)"
    else:
        total = x.sum(-1, keepdim=True)
        p = x / total
        h = torch.special.entr(p).sum(-1, keepdim=True)
        closed = -(p.log() + h) / total
        formula = r"\frac{\partial H}{\partial x_i} = -\frac{\ln p_i + H}{\sum_j x_j}"
    if bits:
        formula += r" \,/ \ln 2"
    note = gettext_noop(
        "positive where p_i is below e^{-H}: moving mass towards the rare outcomes raises the "
        "entropy"
    )
    return Gradient(source, value, closed.mul_(scale) if scale != 1.0 else closed, formula, note)
