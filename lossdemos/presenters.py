"""A computation's trace → what people and programs read: JSON values, truncated tables, SVG charts.

No request handling here. JSON has no NaN or infinity, so non-finite numbers are written as the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (the same spellings the API accepts as input). Big tensors
are never walked in Python: tables and charts look at a small corner, JSON uses one ``tolist()``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import nh3
import numpy as np
import torch
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from latex2mathml.converter import convert as latex_to_mathml

from kb.markdown import ATTRIBUTES, MATHML_TAGS
from kb.messages import translated as translate_message

# A step whose tensor has more numbers than this is summarised in JSON instead of listed in full.
STEP_VALUE_LIMIT = 10_000
TABLE_ROWS = 8
TABLE_COLUMNS = 10

NAN, POS_INF, NEG_INF = "NaN", "Infinity", "-Infinity"
_TEXT_COMMAND = re.compile(r"\\text\{[^}]*\}")


# --- JSON -------------------------------------------------------------------------------------


def as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach()
    return torch.as_tensor(value)


def json_value(value: Any) -> Any:
    """A number or nested lists, with NaN/±inf as strings so the answer is valid JSON."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | float):
        return _json_number(value)
    tensor = as_tensor(value)
    if tensor.dtype == torch.bool:
        return tensor.tolist()
    if tensor.is_floating_point():
        tensor = tensor.to(torch.float64) if tensor.dtype != torch.float64 else tensor
        array = tensor.cpu().numpy()
        finite = np.isfinite(array)
        if not finite.all():  # rare: walk only when there is something to replace
            spelled = array.astype(object)
            spelled[np.isnan(array)] = NAN
            spelled[array == math.inf] = POS_INF
            spelled[array == -math.inf] = NEG_INF
            return spelled.tolist()
        return array.tolist()
    return tensor.tolist()


def _json_number(x: float | int) -> float | int | str:
    if isinstance(x, float) and not math.isfinite(x):
        return NAN if math.isnan(x) else (POS_INF if x > 0 else NEG_INF)
    return x


def shape_of(value: Any) -> list[int]:
    if isinstance(value, torch.Tensor):
        return list(value.shape)
    if isinstance(value, int | float):
        return []
    return list(as_tensor(value).shape)


def summary(tensor: torch.Tensor) -> dict[str, Any]:
    """count, min, max and mean of a big step — two passes over the data, nothing more.

    A NaN anywhere makes all three NaN and an infinity shows as the min or max: both are worth seeing.
    """
    values = tensor.detach()
    if values.dtype == torch.bool:
        values = values.to(torch.uint8)
    low, high = torch.aminmax(values)
    # in the step's own dtype: a float64 copy of a (512, 32000) tensor costs ten times the mean
    mean = values.mean() if values.is_floating_point() else values.double().mean()
    return {
        "count": values.numel(),
        "min": json_value(low.item()),
        "max": json_value(high.item()),
        "mean": json_value(mean.item()),
    }


def step_json(step: Any, *, limit: int = STEP_VALUE_LIMIT) -> dict[str, Any]:
    """One step as ARCHITECTURE §6 spells it; a step with more than ``limit`` numbers is summarised."""
    value = step.value
    answer: dict[str, Any] = {"name": step.name}
    if getattr(step, "formula", None):
        answer["formula"] = step.formula
    answer["shape"] = shape_of(value)
    numel = value.numel() if isinstance(value, torch.Tensor) else 1
    if numel > limit:
        answer["value"] = None
        answer["omitted"] = True
        answer["summary"] = summary(value)
    else:
        answer["value"] = json_value(value)
    if getattr(step, "note", None):
        answer["note"] = translated(step.note)
    return answer


def warning_text(warning: Any) -> str:
    return translated(getattr(warning, "message", warning))


def json_answer(computation: Any) -> dict[str, Any]:
    """The API's answer for one computation (ARCHITECTURE §6), as :func:`page_results` is the page's."""
    trace = computation.trace
    answer: dict[str, Any] = {
        "result": json_value(trace.result),
        "steps": [step_json(step) for step in trace.steps],
        "code": trace.code,
        "warnings": [warning_text(w) for w in trace.warnings],
    }
    for name, value in computation.extra.items():
        answer[name] = json_value(value)
    gradient = getattr(computation, "gradient", None)
    if gradient is not None:
        answer["grad"] = json_value(gradient.value)
        answer["grad_closed_form"] = json_value(gradient.closed_form)
        answer["grad_formula"] = gradient.formula
    return answer


def translated(message: Any) -> str:
    """An engine sentence in the active language (see :func:`kb.messages.translated`)."""
    return translate_message(message)


# --- numbers for people -------------------------------------------------------------------------


def format_number(x: float) -> str:
    """Four decimals like PyTorch prints, scientific notation for very large or small magnitudes."""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "−inf"
    magnitude = abs(x)
    if magnitude != 0 and (magnitude >= 1e5 or magnitude < 1e-4):
        return f"{x:.4e}"
    return f"{x:.4f}"


@dataclass(frozen=True)
class Row:
    label: str | None  # the index of the row; None for the "…" row
    cells: list[str | None]  # None stands for "…"


@dataclass(frozen=True)
class Table:
    """A small corner of a tensor as rows of formatted numbers."""

    shape: tuple[int, ...]
    rows: list[Row]
    numel: int
    column_count: int
    truncated: bool
    columns: list[str | None]
    scalar: str | None = None
    integer: bool = False


def _corner(length: int, limit: int) -> tuple[list[int], bool]:
    """Indices to show of ``length``: all, or the first limit-1 and the last (with a gap)."""
    if length <= limit:
        return list(range(length)), False
    return [*range(limit - 1), length - 1], True


def table(value: Any, *, max_rows: int = TABLE_ROWS, max_columns: int = TABLE_COLUMNS) -> Table:
    """A small corner of a tensor for an HTML table: 0-d a number, 1-d one row, n-d rows of the last
    dimension (leading dimensions flattened, each row labelled with its index)."""
    tensor = as_tensor(value)
    integer = not tensor.is_floating_point()
    shape = tuple(tensor.shape)
    if tensor.dim() == 0:
        item = tensor.item()
        return Table(shape, [], 1, 0, False, [], scalar=format_number(item), integer=integer)
    rows_2d = tensor.reshape(1, -1) if tensor.dim() == 1 else tensor.reshape(-1, shape[-1])
    row_index, rows_cut = _corner(rows_2d.shape[0], max_rows)
    column_index, columns_cut = _corner(rows_2d.shape[1], max_columns)
    corner = rows_2d[row_index][:, column_index].tolist()
    leading = shape[:-1]
    rows: list[Row] = []
    for position, (r, values) in enumerate(zip(row_index, corner, strict=True)):
        if rows_cut and position == len(row_index) - 1:
            rows.append(Row(None, [None] * (len(column_index) + int(columns_cut))))
        cells: list[str | None] = [format_number(v) for v in values]
        if columns_cut:
            cells.insert(len(cells) - 1, None)
        label = (
            "" if tensor.dim() == 1 else ",".join(str(int(i)) for i in np.unravel_index(r, leading))
        )
        rows.append(Row(label, cells))
    columns: list[str | None] = [str(c) for c in column_index]
    if columns_cut:
        columns.insert(len(columns) - 1, None)
    return Table(
        shape,
        rows,
        tensor.numel(),
        rows_2d.shape[1],
        rows_cut or columns_cut,
        columns,
        integer=integer,
    )


# --- formulas -----------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def formula_mathml(latex: str) -> SafeString:
    """A step's LaTeX formula as MathML (sanitized like the explanations)."""
    if not latex:
        return SafeString("")
    # latex2mathml keeps the backslash of \_ inside \text{...}; there it is only an underscore
    latex = _TEXT_COMMAND.sub(lambda m: m[0].replace(r"\_", "_"), latex)
    try:
        mathml = latex_to_mathml(latex, display="inline")
    except Exception:  # noqa: BLE001 — show the source of a formula the converter cannot read
        from django.utils.html import escape

        return mark_safe(f'<code class="tex">{escape(latex)}</code>')  # noqa: S308 — escaped
    cleaned = nh3.clean(mathml, tags=MATHML_TAGS, attributes=ATTRIBUTES)
    return mark_safe(cleaned)  # noqa: S308 — sanitized by nh3


# --- charts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str
    highlight: bool = False
    short: str = ""
    text_x: float = 0.0  # where the value is written
    text_y: float = 0.0
    label_x: float = 0.0  # where the class/element index is written
    label_y: float = 0.0


@dataclass(frozen=True)
class BarRow:
    """One row of a probability chart: a little bar chart of its own."""

    label: str
    bars: list[Bar]
    more: int  # classes not drawn


@dataclass(frozen=True)
class ProbabilityChart:
    rows: list[BarRow]
    width: int
    height: int
    hidden_rows: int
    baseline: float
    has_targets: bool = False


CHART_ROWS = 6
CHART_CLASSES = 24


def probability_chart(
    probabilities: Any, *, targets: Any = None, class_dim: int = -1
) -> ProbabilityChart | None:
    """Vertical bars, one small chart per row of a (N, C) or (C,) probability tensor.

    The target class of each row (class-index targets) is highlighted. Larger inputs show their
    first rows and classes; the rest is counted, not drawn.
    """
    tensor = as_tensor(probabilities)
    if not tensor.is_floating_point() or tensor.dim() == 0 or tensor.numel() == 0:
        return None
    if tensor.dim() > 1 and class_dim not in (-1, tensor.dim() - 1):
        tensor = tensor.movedim(class_dim, -1)
    rows_2d = tensor.reshape(-1, tensor.shape[-1])
    shown = rows_2d[:CHART_ROWS, :CHART_CLASSES].to(torch.float64)
    values = torch.nan_to_num(shown, nan=0.0, posinf=1.0, neginf=0.0).clamp(0, 1).tolist()
    printed = shown.tolist()
    target_list: list[int | None] = [None] * len(values)
    if targets is not None:
        target_tensor = as_tensor(targets)
        if not target_tensor.is_floating_point() and target_tensor.numel() == rows_2d.shape[0]:
            target_list = [int(t) for t in target_tensor.flatten()[:CHART_ROWS].tolist()]
    bar_width, gap, plot_height, top = 22, 4, 80, 16
    classes = len(values[0])
    width = max(classes * (bar_width + gap) + gap, 120)
    rows = []
    for r, (row, row_printed) in enumerate(zip(values, printed, strict=True)):
        bars = []
        for c, (p, shown_value) in enumerate(zip(row, row_printed, strict=True)):
            height = p * plot_height
            bars.append(
                Bar(
                    x=gap + c * (bar_width + gap),
                    y=top + plot_height - height,
                    width=bar_width,
                    height=height,
                    label=str(c),
                    value=format_number(shown_value),
                    highlight=target_list[r] == c,
                    short=f"{p:.2f}",
                    text_x=gap + c * (bar_width + gap) + bar_width / 2,
                    text_y=top + plot_height - height - 3,
                    label_x=gap + c * (bar_width + gap) + bar_width / 2,
                    label_y=top + plot_height + 14,
                )
            )
        rows.append(
            BarRow(
                label=str(r) if tensor.dim() > 1 else "",
                bars=bars,
                more=rows_2d.shape[1] - classes,
            )
        )
    return ProbabilityChart(
        rows=rows,
        width=width,
        height=top + plot_height + 18,
        hidden_rows=max(rows_2d.shape[0] - CHART_ROWS, 0),
        baseline=top + plot_height,
        has_targets=any(t is not None for t in target_list),
    )


@dataclass(frozen=True)
class LossChart:
    bars: list[Bar]
    width: int
    height: int
    hidden: int
    label_width: int


LOSS_BARS = 24


def loss_chart(losses: Any) -> LossChart | None:
    """Horizontal bars, one per element of a per-element loss (reduction='none')."""
    tensor = as_tensor(losses)
    if not tensor.is_floating_point() or tensor.dim() == 0 or tensor.numel() < 2:
        return None
    flat = tensor.detach().flatten()
    shown = flat[:LOSS_BARS].to(torch.float64)
    finite = shown[torch.isfinite(shown)]
    scale = float(finite.abs().max()) if finite.numel() else 1.0
    scale = scale or 1.0
    label_width, plot_width, row_height = 40, 240, 22
    bars = []
    for i, value in enumerate(shown.tolist()):
        length = plot_width * min(abs(value) / scale, 1.0) if math.isfinite(value) else plot_width
        bars.append(
            Bar(
                x=label_width,
                y=4 + i * row_height,
                width=length,
                height=row_height - 6,
                label=str(i),
                value=format_number(value),
                highlight=value < 0 or not math.isfinite(value),
                text_x=label_width + length + 4,
                text_y=4 + i * row_height + 12,
                label_x=label_width - 6,
                label_y=4 + i * row_height + 12,
            )
        )
    return LossChart(
        bars=bars,
        width=label_width + plot_width + 80,
        height=8 + len(bars) * row_height,
        hidden=flat.numel() - shown.numel(),
        label_width=label_width,
    )


@dataclass(frozen=True)
class CurveChart:
    """The NLL of Bernoulli(p) over p ∈ (0, 1) for some 0/1 outcomes, its minimum marked."""

    path: str
    width: int
    height: int
    minimum_x: float
    minimum_y: float
    minimum_p: str
    minimum_nll: str
    axis_y: float
    ticks: list[tuple[float, str]]
    left: float
    right: float


def nll_curve(p: torch.Tensor, nll: torch.Tensor, p_hat: float, nll_min: float) -> CurveChart:
    """An SVG path through (p, NLL(p)); y grows downwards, so high loss is drawn high."""
    width, height, left, right, top, bottom = 320, 200, 36, 12, 10, 26
    ps = p.to(torch.float64)
    values = nll.to(torch.float64)
    finite = torch.isfinite(values)
    y_max = float(values[finite].max()) if finite.any() else 1.0
    y_min = min(float(values[finite].min()) if finite.any() else 0.0, nll_min)
    span = (y_max - y_min) or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def to_x(p_value: float) -> float:
        return left + p_value * plot_w

    def to_y(v: float) -> float:
        return top + plot_h * (1 - (v - y_min) / span)

    points = [
        (to_x(a), to_y(b))
        for a, b in zip(ps.tolist(), values.tolist(), strict=True)
        if math.isfinite(b)
    ]
    path = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points) if points else ""
    ticks = [(to_x(t), f"{t:g}") for t in (0, 0.25, 0.5, 0.75, 1)]
    return CurveChart(
        path=path,
        width=width,
        height=height,
        minimum_x=to_x(p_hat),
        minimum_y=to_y(nll_min) if math.isfinite(nll_min) else top + plot_h,
        minimum_p=format_number(p_hat),
        minimum_nll=format_number(nll_min),
        axis_y=top + plot_h,
        ticks=ticks,
        left=left,
        right=width - right,
    )


# --- a computation for the page -----------------------------------------------------------------


@dataclass(frozen=True)
class StepView:
    name: str
    formula: SafeString
    latex: str
    table: Table
    note: str


def _step(trace: Any, name: str) -> torch.Tensor | None:
    for step in trace.steps:
        if step.name == name:
            return step.value
    return None


def _head(tensor: torch.Tensor) -> torch.Tensor:
    """The rows a chart draws (all of a 1-D distribution)."""
    return tensor[:CHART_ROWS] if tensor.dim() >= 2 else tensor


def _charted_distributions(computation: Any) -> list[tuple[str, torch.Tensor, Any]]:
    """(caption key, probabilities with classes along dim 1 or 0, class-index targets) to draw."""
    trace, inputs, op = computation.trace, computation.inputs, computation.op
    target = inputs.get("target")
    if op == "softmax":
        return [("p", _step(trace, "probabilities"), None)]
    if op == "log-softmax":
        return [("p", _head(trace.result).exp(), None)]
    if op == "entropy":
        return [("p", _step(trace, "probabilities"), None)]
    if op in ("cross-entropy", "perplexity"):
        log_p = _step(trace, "log_softmax")
        if log_p is None and "logits" in inputs:
            logits = inputs["logits"]
            log_p = torch.log_softmax(logits, dim=1 if logits.dim() > 1 else 0)
        return [("p", _head(log_p).exp(), target)] if log_p is not None else []
    if op == "nll" and "input" in inputs:
        return [("exp_input", _head(inputs["input"]).exp(), target)]
    if op == "kl":
        charts = []
        if _step(trace, "p") is not None:
            charts.append(("target_p", _step(trace, "p"), None))
        if _step(trace, "log_q") is not None:
            charts.append(("model_q", _head(_step(trace, "log_q")).exp(), None))
        return charts
    return []


def _per_element_losses(computation: Any) -> torch.Tensor | None:
    """What the per-element chart draws, in the answer's unit: the loss of each example (smoothed,
    per row for probability targets), each row's entropy or KL, each token's NLL."""
    trace, op = computation.trace, computation.op
    if op in ("softmax", "log-softmax", "train"):  # probabilities and curves, not losses
        return None
    result = trace.result
    if isinstance(result, torch.Tensor) and result.dim() >= 1 and result.numel() >= 2:
        return result
    in_unit = 1 / math.log(2) if computation.base == "2" else 1.0
    if op == "kl":
        pointwise = _step(trace, "pointwise")
        if pointwise is not None and pointwise.dim() >= 2:
            return pointwise.sum(-1) * in_unit  # each row's own divergence: what batchmean averages
        return None
    if op == "entropy":
        return None  # its result is already each row's entropy (a single row: nothing to compare)
    # the smoothed loss, or one loss per row with probability targets, before the plain one
    for name in ("smoothed", "per_example", "weighted", "token_nll"):
        value = _step(trace, name)
        if value is not None and value.dim() >= 1:
            return value * in_unit
    return None


def _loss_chart_kind(computation: Any) -> str:
    if computation.op == "kl":
        return "kl_element" if computation.trace.result.dim() >= 1 else "kl_row"
    return {"entropy": "row", "perplexity": "token"}.get(computation.op, "element")


def page_results(computation: Any) -> dict[str, Any]:
    """What the results fragment shows for one computation."""
    trace = computation.trace
    steps = [
        StepView(
            name=step.name,
            formula=formula_mathml(getattr(step, "formula", "") or ""),
            latex=getattr(step, "formula", "") or "",
            table=table(step.value),
            note=translated(getattr(step, "note", "") or ""),
        )
        for step in trace.steps
    ]
    charts = []
    for caption, probabilities, target in _charted_distributions(computation):
        if probabilities is None or not probabilities.is_floating_point():
            continue
        if probabilities.dim() >= 2:  # only the first rows are drawn; don't touch the rest
            probabilities = probabilities[:CHART_ROWS]
            target = target[:CHART_ROWS] if target is not None and target.dim() >= 1 else None
        chart = probability_chart(
            probabilities,
            targets=target if target is not None and not target.is_floating_point() else None,
            class_dim=1 if probabilities.dim() >= 2 else 0,
        )
        if chart is not None:
            charts.append((caption, chart))
    losses = _per_element_losses(computation)
    extra = {name: table(value) for name, value in computation.extra.items() if value is not None}
    unit = {"e": gettext("nats"), "2": gettext("bits")}.get(computation.base)
    return {
        "result": table(trace.result),
        "unit": None if computation.op in ("softmax", "log-softmax", "perplexity") else unit,
        "nll_unit": unit,
        "steps": steps,
        "warnings": [warning_text(w) for w in trace.warnings],
        "code": trace.code,
        "probability_charts": charts,
        "loss_chart": loss_chart(losses) if losses is not None else None,
        "loss_chart_kind": _loss_chart_kind(computation),
        "extra": extra,
        "op": computation.op,
    }
