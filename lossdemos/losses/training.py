r"""A training run you can watch: gradient descent on the logits themselves, step by step.

.. math::
    z^{(t+1)} = z^{(t)} - \eta \, \nabla_z L(z^{(t)}), \qquad L = \text{F.cross\_entropy}(z, y)

The logits stand in for a model's output with every logit a free parameter, so the run shows what
the loss's gradient does on its own: the target's logit rises, the others fall, the loss falls and
the accuracy and perplexity follow. Each step's loss is PyTorch's (``F.cross_entropy`` under
autograd); the snippet runs the same loop and prints the last loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from kb.messages import Text, gettext_noop
from lossdemos.errors import LossInputError
from lossdemos.limits import TRAIN_STEP_LIMIT
from lossdemos.losses.checks import (
    check_class_dim,
    check_ignore_index,
    check_label_smoothing,
    class_target,
    real_tensor,
    weight_per_class,
)
from lossdemos.losses.snippets import keyword_arguments, snippet
from lossdemos.losses.trace import Trace, Working

__all__ = ["TrainingRun", "train"]

MAX_STEPS = TRAIN_STEP_LIMIT


@dataclass(frozen=True)
class TrainingRun(Trace):
    """``result`` is the loss before each step and after the last (``steps + 1`` values)."""

    accuracy: torch.Tensor | None = None  # the share of counted examples whose top logit is right
    perplexity: torch.Tensor | None = None  # e^loss
    final_logits: torch.Tensor | None = None
    learning_rate: float = 1.0


def train(
    logits: Any,
    target: Any,
    *,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    learning_rate: float = 1.0,
    steps: int = 20,
) -> TrainingRun:
    r"""``steps`` steps of gradient descent with learning rate :math:`\eta` on the logits against
    ``F.cross_entropy`` (mean reduction), recording loss, accuracy and perplexity at every step."""
    z = real_tensor(logits, "logits")
    class_dim = check_class_dim(z, "logits")
    ignore_index = check_ignore_index(ignore_index)
    label_smoothing = check_label_smoothing(label_smoothing)
    w = weight_per_class(weight, z.shape[class_dim], z.dtype)
    t, probability_target = class_target(z, target, ignore_index)
    _check_run(learning_rate, steps)
    work = Working()
    options = {"weight": w, "ignore_index": ignore_index, "label_smoothing": label_smoothing}
    loss_curve, accuracy, final = _descend(
        z, t, probability_target, learning_rate, steps, class_dim, **options
    )
    _run_warnings(work, loss_curve)
    work.step(
        "loss", r"L^{(t)}", loss_curve, gettext_noop("the mean cross-entropy before each step")
    )
    work.step("accuracy", r"\text{acc}^{(t)}", accuracy)
    work.step("perplexity", r"e^{L^{(t)}}", loss_curve.exp())
    work.step(
        "final_logits",
        r"z^{(T)} = z^{(0)} - \eta \sum_t \nabla_z L(z^{(t)})",
        final,
        gettext_noop("the target's logit has risen and the others have fallen"),
    )
    work.step(
        "final_probabilities", r"\operatorname{softmax}(z^{(T)})", F.softmax(final, class_dim)
    )
    code = _training_snippet(z, t, w, ignore_index, label_smoothing, learning_rate, steps)
    return TrainingRun(
        result=loss_curve,
        steps=work.steps,
        warnings=work.warnings,
        code=code,
        accuracy=accuracy,
        perplexity=loss_curve.exp(),
        final_logits=final,
        learning_rate=learning_rate,
    )


def _descend(
    z: torch.Tensor,
    t: torch.Tensor,
    probability_target: bool,
    learning_rate: float,
    steps: int,
    class_dim: int,
    **options: Any,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The loss and accuracy before each step and after the last, and the final logits."""
    right_class = t.argmax(class_dim) if probability_target else t
    counted = torch.ones_like(right_class, dtype=torch.bool)
    if not probability_target:
        counted = t != options["ignore_index"]
    losses, accuracy = [], []
    leaf = z.detach().clone().requires_grad_(True)
    for step in range(steps + 1):
        with torch.enable_grad():
            loss = F.cross_entropy(leaf, t, **options)
            grad = torch.autograd.grad(loss, leaf)[0] if step < steps else None
        with torch.no_grad():
            losses.append(loss.detach())
            hits = (leaf.argmax(class_dim) == right_class) & counted
            accuracy.append(hits.sum() / counted.sum().clamp(min=1))
            if grad is not None:
                leaf -= learning_rate * grad
    return torch.stack(losses), torch.stack(accuracy), leaf.detach()


def _run_warnings(work: Working, loss_curve: torch.Tensor) -> None:
    if not torch.isfinite(loss_curve).all():
        work.warn(
            gettext_noop(
                "the loss became inf or nan during the run: the learning rate is too large for "
                "these logits, or a target class starts with probability 0"
            )
        )
    elif loss_curve[-1] > loss_curve[0]:
        work.warn(
            gettext_noop(
                "the loss ended higher than it started: the learning rate is too large, so each "
                "step overshoots"
            )
        )


def _check_run(learning_rate: Any, steps: Any) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise LossInputError(
            Text.of(
                gettext_noop("steps must be a whole number from 1 to %(limit)s"), limit=MAX_STEPS
            ),
            field="steps",
        )
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, int | float)
        or not math.isfinite(learning_rate)
        or learning_rate <= 0
    ):
        raise LossInputError(
            gettext_noop("learning_rate must be a positive number"), field="learning_rate"
        )


def _training_snippet(
    z: torch.Tensor,
    t: torch.Tensor,
    w: torch.Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    learning_rate: float,
    steps: int,
) -> str:
    kwargs = keyword_arguments(
        weight=w is not None, ignore_index=ignore_index, label_smoothing=label_smoothing
    )
    lines = [
        "z = logits.clone().requires_grad_(True)",
        f"for step in range({steps}):",
        f"    loss = F.cross_entropy(z, target{kwargs})",
        "    loss.backward()",
        "    with torch.no_grad():",
        f"        z -= {learning_rate!r} * z.grad",
        "    z.grad = None",
        f"print(F.cross_entropy(z, target{kwargs}))",
    ]
    return snippet([("logits", z), ("target", t), ("weight", w)], lines)
