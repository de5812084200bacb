"""The gradient and the training run as a page shows them: tables, a diverging chart, curves, and
sentences with the reader's own numbers. Like :mod:`lossdemos.presenters`, no request handling."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from lossdemos.presenters import (
    CHART_CLASSES,
    CHART_ROWS,
    TABLE_COLUMNS,
    Bar,
    BarRow,
    as_tensor,
    format_number,
    formula_mathml,
    table,
    translated,
    warning_text,
)

# --- gradients ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DivergingChart:
    """One small chart per row: a bar up for each positive value, down for each negative one."""

    rows: list[BarRow]
    width: int
    height: int
    hidden_rows: int
    baseline: float
    has_targets: bool = False


def diverging_chart(values: Any, *, targets: Any = None) -> DivergingChart | None:
    """Bars around zero for the first rows and classes of a gradient (classes along the last
    dimension); each row scaled to its own largest magnitude, the target class highlighted."""
    tensor = as_tensor(values)
    if not tensor.is_floating_point() or tensor.numel() == 0 or tensor.dim() == 0:
        return None
    rows_2d = tensor.reshape(1, -1) if tensor.dim() == 1 else tensor.reshape(-1, tensor.shape[-1])
    shown = rows_2d[:CHART_ROWS, :CHART_CLASSES].to(torch.float64)
    target_list: list[int | None] = [None] * shown.shape[0]
    if targets is not None:
        target_tensor = as_tensor(targets)
        if not target_tensor.is_floating_point() and target_tensor.numel() == rows_2d.shape[0]:
            target_list = [int(t) for t in target_tensor.flatten()[:CHART_ROWS].tolist()]
    bar_width, gap, half, top = 30, 6, 44, 14
    classes = shown.shape[1]
    width = max(classes * (bar_width + gap) + gap, 140)
    baseline = top + half
    rows = []
    for r, row in enumerate(shown.tolist()):
        finite = [abs(v) for v in row if math.isfinite(v)]
        scale = max(finite, default=0.0) or 1.0
        bars = []
        for c, value in enumerate(row):
            size = half * min(abs(value) / scale, 1.0) if math.isfinite(value) else half
            up = value >= 0
            x = gap + c * (bar_width + gap)
            bars.append(
                Bar(
                    x=x,
                    y=baseline - size if up else baseline,
                    width=bar_width,
                    height=size,
                    label=str(c),
                    value=format_number(value),
                    highlight=target_list[r] == c,
                    short=f"{value:+.2f}" if math.isfinite(value) else format_number(value),
                    text_x=x + bar_width / 2,
                    text_y=baseline - size - 3 if up else baseline + size + 10,
                    label_x=x + bar_width / 2,
                    label_y=top + 2 * half + 24,
                )
            )
        rows.append(
            BarRow(
                label=str(r) if tensor.dim() > 1 else "",
                bars=bars,
                more=rows_2d.shape[1] - classes,
            )
        )
    return DivergingChart(
        rows=rows,
        width=width,
        height=top + 2 * half + 28,
        hidden_rows=max(rows_2d.shape[0] - CHART_ROWS, 0),
        baseline=baseline,
        has_targets=any(t is not None for t in target_list),
    )


def _gradient_rows(grad: torch.Tensor) -> torch.Tensor:
    """The gradient with classes along the last dimension (dim 1 of (N, C, d1, ...) moved there)."""
    return grad.movedim(1, -1) if grad.dim() > 2 else grad


def gradient_explanation(computation: Any) -> list[str]:
    """Sentences with the reader's own numbers: what one step of gradient descent does."""
    gradient, op, inputs = computation.gradient, computation.op, computation.inputs
    target = inputs.get("target")
    grad = gradient.value
    if op == "cross-entropy" and target is not None and not target.is_floating_point():
        logits = inputs["logits"]
        first = (0,) if logits.dim() > 1 else ()
        z_row = logits[first] if logits.dim() <= 2 else logits[0, :, *([0] * (logits.dim() - 2))]
        g_row = grad[first] if grad.dim() <= 2 else grad[0, :, *([0] * (grad.dim() - 2))]
        y = int(target.flatten()[0]) if target.dim() else int(target)
        if not 0 <= y < z_row.shape[0]:
            return []
        p = torch.softmax(z_row.to(torch.float64), 0)
        others = [c for c in range(z_row.shape[0]) if c != y]
        return [
            gettext(
                "Row 0: the target is class %(target)s, which the model gives probability "
                "%(probability)s. Its gradient is %(gradient)s, negative, so a step of gradient "
                "descent (z ← z − η·gradient) raises its logit."
            )
            % {
                "target": y,
                "probability": format_number(float(p[y])),
                "gradient": format_number(float(g_row[y])),
            },
            gettext(
                "Every other class gets a positive gradient, its own probability (%(others)s): "
                "the step lowers those logits, most for the class the model wrongly favours most."
            )
            % {
                "others": ", ".join(
                    f"{c}: {format_number(float(g_row[c]))}" for c in others[:TABLE_COLUMNS]
                )
            },
            gettext(
                "The gradient is the probability minus the target, so it fades as p → 1: a "
                "prediction that is already right is hardly pushed, a confident wrong one "
                "hardest."
            ),
        ]
    if op == "nll" and target is not None:
        y = int(target.flatten()[0]) if target.dim() else int(target)
        g_row = grad[0] if grad.dim() > 1 else grad
        if grad.dim() > 2 or not 0 <= y < g_row.shape[0]:
            return []
        return [
            gettext(
                "Row 0: the gradient is %(gradient)s at the target, class %(target)s, and 0 "
                "everywhere else, whatever numbers the input holds: NLL only reads the target's "
                "entry."
            )
            % {"gradient": format_number(float(g_row[y])), "target": y},
            gettext(
                "On log_softmax output that is enough, because the softmax behind it shares the "
                "rise out of the other classes. Given raw logits instead (source article C), "
                "nothing ties the entries together: every step raises the target's entry by the "
                "same amount, the loss −x falls below 0 without bound, and the gradient never "
                "shrinks — it never saturates. Cross-entropy's gradient, p − onehot, does."
            ),
        ]
    return []


def formula_lines(latex: str) -> SafeString:
    """The formula's equations (``a, \\quad b``) as separate MathML pieces a phone can wrap between."""
    parts = latex.split(r", \quad ")
    pieces = [f'<span class="gradient__equation">{formula_mathml(p)}</span>' for p in parts]
    return mark_safe(",&#32; ".join(pieces))  # noqa: S308 — each piece sanitized by formula_mathml


def page_gradient(computation: Any) -> dict[str, Any] | None:
    """The gradient section of the results: autograd beside the closed form, a chart, the why."""
    gradient = getattr(computation, "gradient", None)
    if gradient is None:
        return None
    target = computation.inputs.get("target")
    targets = (
        target[:CHART_ROWS] if target is not None and target.dim() == 1 else target
    )  # class indices of (N, C) rows
    rows = _gradient_rows(gradient.value)
    chart_targets = (
        targets
        if targets is not None and not targets.is_floating_point() and gradient.value.dim() <= 2
        else None
    )
    return {
        "of": gradient.of,
        "autograd": table(gradient.value),
        "closed_form": table(gradient.closed_form),
        "formula": formula_lines(gradient.formula),
        "latex": gradient.formula,
        "note": translated(gradient.note),
        "chart": diverging_chart(
            rows[:CHART_ROWS] if rows.dim() >= 2 else rows, targets=chart_targets
        ),
        "largest_difference": format_number(
            float((gradient.value - gradient.closed_form).abs().nan_to_num(0.0).max())
        ),
        "explanation": gradient_explanation(computation),
    }


# --- a training run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LineChart:
    """One curve over the steps of a training run."""

    name: str
    path: str
    width: int
    height: int
    left: float
    right: float
    top: float
    axis_y: float
    high: str
    low: str
    first: str
    last: str
    steps: int


def line_chart(name: str, values: torch.Tensor) -> LineChart:
    width, height, left, right, top, bottom = 320, 140, 44, 10, 10, 22
    data = values.to(torch.float64)
    finite = data[torch.isfinite(data)]
    high = float(finite.max()) if finite.numel() else 1.0
    low = float(finite.min()) if finite.numel() else 0.0
    if name == "accuracy":
        low, high = 0.0, 1.0
    span = (high - low) or 1.0
    count = max(data.numel() - 1, 1)
    plot_w, plot_h = width - left - right, height - top - bottom
    points = [
        (left + plot_w * i / count, top + plot_h * (1 - (v - low) / span))
        for i, v in enumerate(data.tolist())
        if math.isfinite(v)
    ]
    path = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points) if points else ""
    return LineChart(
        name=name,
        path=path,
        width=width,
        height=height,
        left=left,
        right=width - right,
        top=top,
        axis_y=top + plot_h,
        high=format_number(high),
        low=format_number(low),
        first=format_number(float(data[0])),
        last=format_number(float(data[-1])),
        steps=data.numel() - 1,
    )


def page_training(computation: Any) -> dict[str, Any]:
    """A training run for the page: a curve each for loss, accuracy and perplexity, and the end."""
    run = computation.trace
    return {
        "charts": [
            line_chart("loss", run.result),
            line_chart("accuracy", run.accuracy),
            line_chart("perplexity", run.perplexity),
        ],
        "steps": run.result.numel() - 1,
        "learning_rate": f"{run.learning_rate:g}",
        "first_loss": format_number(float(run.result[0])),
        "last_loss": format_number(float(run.result[-1])),
        "final_logits": table(run.final_logits),
        "final_probabilities": table(run.step("final_probabilities").value),
        "warnings": [warning_text(w) for w in run.warnings],
        "code": run.code,
    }
