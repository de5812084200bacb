"""The common mistakes, each computed live: the wrong call beside the right one, on the reader's numbers.

Each mistake has a small form (prefixed with its id, so several live on one page) and a function that
returns pairs of :class:`Side`. Numbers come from the engine (:mod:`lossdemos.losses`) or, where the
mistake *is* a bare torch call (``torch.log(torch.softmax(x))``), from that torch call itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kb.messages import Text, gettext_noop
from lossdemos import losses, presenters
from lossdemos.content import Section
from lossdemos.operations import missing_message, one_thread
from lossdemos.parsing import InputError, parse_target, parse_tensor

MISTAKE_NUMBER_LIMIT = 10_000


@dataclass
class Side:
    """One column: what was called, what came out."""

    verdict: str  # "wrong" or "right"
    call: str  # the call, as code
    result: presenters.Table | None = None
    steps: list[presenters.StepView] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    code: str = ""
    id: str = ""


@dataclass
class Comparison:
    caption: Promise | str
    wrong: Side
    right: Side


@dataclass
class SectionResult:
    mistake: Mistake
    form: forms.Form
    comparisons: list[Comparison]
    explanation: Section | None
    errors: list[tuple[str, str]]

    @property
    def title(self) -> Any:
        return self.explanation.title if self.explanation else self.mistake.title


def _step_views(trace: Any) -> list[presenters.StepView]:
    return [
        presenters.StepView(
            name=step.name,
            formula=presenters.formula_mathml(getattr(step, "formula", "") or ""),
            latex=getattr(step, "formula", "") or "",
            table=presenters.table(step.value),
            note=presenters.translated(getattr(step, "note", "") or ""),
        )
        for step in trace.steps
    ]


def side(verdict: str, call: str, run: Callable[[], Any]) -> Side:
    """Run one side; an engine refusal (PyTorch would raise too) is shown as that side's outcome."""
    try:
        trace = run()
    except losses.LossInputError as exc:
        # translated now: the comparisons are computed for this request, in its language
        message = getattr(exc, "message", None) or str(exc)
        return Side(verdict, call, error=presenters.translated(message))
    except (RuntimeError, ValueError, IndexError) as exc:  # torch's own error for a wrong shape
        return Side(verdict, call, error=str(exc).splitlines()[0])
    return Side(
        verdict,
        call,
        result=presenters.table(trace.result),
        steps=_step_views(trace),
        warnings=[presenters.warning_text(w) for w in trace.warnings],
        code=trace.code,
    )


def _trace(result: torch.Tensor, steps: list[Any], code: str, warnings: list[str] | None = None):
    return losses.Trace(result=result, steps=steps, warnings=warnings or [], code=code)


def literal(tensor: torch.Tensor) -> str:
    """``torch.tensor([...])`` source for a small tensor."""
    if tensor.is_floating_point():
        return f"torch.tensor({_round_all(tensor.tolist())!r})"
    return f"torch.tensor({tensor.tolist()!r})"


def _round_all(value: Any) -> Any:
    if isinstance(value, list):
        return [_round_all(v) for v in value]
    return float(f"{value:.6g}")


# --- the mistakes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    label: Promise
    example: str
    rows: int = 0
    target: bool = False


@dataclass(frozen=True)
class Mistake:
    id: str
    title: Promise
    fields: tuple[Field, ...]
    compare: Callable[[dict[str, torch.Tensor]], list[Comparison]]

    def form_class(self) -> type[forms.Form]:
        attributes: dict[str, Any] = {
            "mistake": forms.CharField(widget=forms.HiddenInput, required=False)
        }
        for spec in self.fields:
            widget = (
                forms.Textarea(attrs={"rows": spec.rows, "spellcheck": "false"})
                if spec.rows
                else forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"})
            )
            attributes[spec.name] = forms.CharField(
                label=spec.label, required=False, strip=False, widget=widget
            )
        return type(f"MistakeForm_{self.id.replace('-', '_')}", (forms.Form,), attributes)

    def run(self, data: Mapping[str, Any] | None, explanation: Section | None) -> SectionResult:
        form_class = self.form_class()
        if data is None:
            data = {f"{self.id}-{spec.name}": spec.example for spec in self.fields}
        form = form_class(data, prefix=self.id, initial={"mistake": self.id})
        comparisons: list[Comparison] = []
        if form.is_valid():
            try:
                tensors = self._tensors(form.cleaned_data)
                with one_thread():  # small examples: see operations.SMALL_INPUT
                    comparisons = self.compare(tensors)
                for i, comparison in enumerate(comparisons):
                    comparison.wrong.id = f"code-{self.id}-wrong-{i}"
                    comparison.right.id = f"code-{self.id}-right-{i}"
            except InputError as exc:
                name = exc.location.get("field")
                form.add_error(
                    name if name in form.fields else None, presenters.translated(exc.message)
                )
        errors = [
            (form.add_prefix(name) if name != "__all__" else "", str(message))
            for name, messages in form.errors.items()
            for message in messages
        ]
        return SectionResult(self, form, comparisons, explanation, errors)

    def _tensors(self, cleaned: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        tensors = {}
        budget = MISTAKE_NUMBER_LIMIT
        for spec in self.fields:
            text = cleaned.get(spec.name) or ""
            if not text.strip():
                raise InputError(
                    Text.of(missing_message(spec.name), field=spec.name),
                    field=spec.name,
                )
            if spec.target:
                tensor = parse_target(text, field=spec.name, max_numbers=budget)
                tensor = tensor.long() if not tensor.is_floating_point() else tensor
            else:
                tensor = parse_tensor(text, field=spec.name, max_numbers=budget)
            budget -= tensor.numel()
            tensors[spec.name] = tensor
        return tensors


def _probs_to_nll(t: dict[str, torch.Tensor]) -> list[Comparison]:
    logits, target = t["logits"], t["target"]
    probabilities = losses.softmax(logits, dim=-1).result
    return [
        Comparison(
            _("nll_loss wants log-probabilities"),
            side(
                "wrong",
                "F.nll_loss(F.softmax(logits, dim=-1), target)",
                lambda: losses.nll(probabilities, target, reduction="none"),
            ),
            side(
                "right",
                "F.cross_entropy(logits, target)  # = F.nll_loss(F.log_softmax(logits, dim=-1), target)",
                lambda: losses.cross_entropy(logits, target, reduction="none"),
            ),
        )
    ]


def _probs_to_kl(t: dict[str, torch.Tensor]) -> list[Comparison]:
    q, p = t["q"], t["p"]
    return [
        Comparison(
            _("kl_div's input is log q"),
            side(
                "wrong",
                'F.kl_div(q, p, reduction="batchmean")',
                lambda: losses.kl(q, p, reduction="batchmean"),
            ),
            side(
                "right",
                'F.kl_div(q.log(), p, reduction="batchmean")',
                lambda: losses.kl(torch.log(q), p, reduction="batchmean"),
            ),
        )
    ]


def _softmax_before_ce(t: dict[str, torch.Tensor]) -> list[Comparison]:
    logits, target = t["logits"], t["target"]
    probabilities = losses.softmax(logits, dim=-1).result
    return [
        Comparison(
            _("cross_entropy applies log-softmax itself"),
            side(
                "wrong",
                "F.cross_entropy(F.softmax(logits, dim=-1), target)",
                lambda: losses.cross_entropy(probabilities, target, reduction="none"),
            ),
            side(
                "right",
                "F.cross_entropy(logits, target)",
                lambda: losses.cross_entropy(logits, target, reduction="none"),
            ),
        )
    ]


def _class_dim(t: dict[str, torch.Tensor]) -> list[Comparison]:
    nlc, target = t["logits"], t["target"]
    cl, cl_target = t["unbatched"], t["unbatched_target"]

    def permuted():
        if nlc.dim() != 3:
            raise losses.LossInputError(
                Text.of(
                    gettext_noop("this example needs logits shaped (N, L, C); these are %(shape)s"),
                    shape=str(tuple(nlc.shape)),
                )
            )
        return losses.cross_entropy(nlc.permute(0, 2, 1), target)

    def unsqueezed():
        if cl.dim() != 2:
            raise losses.LossInputError(
                Text.of(
                    gettext_noop("this example needs a (C, L) tensor; this one is %(shape)s"),
                    shape=str(tuple(cl.shape)),
                )
            )
        return losses.cross_entropy(cl.unsqueeze(0), cl_target.unsqueeze(0))

    return [
        Comparison(
            _("(N, L, C) logits: PyTorch reads dimension 1 as the classes"),
            side("wrong", "F.cross_entropy(logits, target)  # logits (N, L, C)",
                 lambda: losses.cross_entropy(nlc, target)),
            side("right", "F.cross_entropy(logits.permute(0, 2, 1), target)  # (N, C, L)",
                 permuted),
        ),
        Comparison(
            _("A (C, L) tensor without a batch dimension is read as (N, C)"),
            side("wrong", "F.cross_entropy(scores, target)  # scores (C, L)",
                 lambda: losses.cross_entropy(cl, cl_target)),
            side("right", "F.cross_entropy(scores.unsqueeze(0), target.unsqueeze(0))  # (1, C, L)",
                 unsqueezed),
        ),
    ]  # fmt: skip


def _kl_mean(t: dict[str, torch.Tensor]) -> list[Comparison]:
    log_q, p = t["input"], t["target"]
    return [
        Comparison(
            _("reduction='mean' divides by every element, not by the batch"),
            side(
                "wrong",
                'F.kl_div(log_q, p, reduction="mean")',
                lambda: losses.kl(log_q, p, reduction="mean"),
            ),
            side(
                "right",
                'F.kl_div(log_q, p, reduction="batchmean")',
                lambda: losses.kl(log_q, p, reduction="batchmean"),
            ),
        )
    ]


def _log_softmax_underflow(t: dict[str, torch.Tensor]) -> list[Comparison]:
    logits = t["logits"]

    def log_of_softmax():
        probabilities = torch.softmax(logits, dim=-1)
        logged = torch.log(probabilities)
        return _trace(
            logged,
            [
                losses.Step(
                    name="softmax",
                    formula=r"p_i = \frac{e^{z_i}}{\sum_j e^{z_j}}",
                    value=probabilities,
                    note=gettext_noop("tiny probabilities round to exactly 0 in float32"),
                ),
                losses.Step(
                    name="log",
                    formula=r"\log p_i",
                    value=logged,
                    note=gettext_noop("log(0) = -inf: the information is gone"),
                ),
            ],
            f"import torch\nlogits = {literal(logits)}\n"
            "print(torch.log(torch.softmax(logits, dim=-1)))",
        )

    return [
        Comparison(
            _("log(softmax(x)) underflows; log_softmax does not"),
            side("wrong", "torch.log(torch.softmax(logits, dim=-1))", log_of_softmax),
            side(
                "right",
                "F.log_softmax(logits, dim=-1)",
                lambda: losses.log_softmax(logits, dim=-1),
            ),
        )
    ]


def _perplexity_mean(t: dict[str, torch.Tensor]) -> list[Comparison]:
    logits, target, sequence_ids = t["logits"], t["target"], t["sequence_ids"]

    def full():
        return losses.perplexity(logits, target, sequence_ids=sequence_ids.long())

    def mean_of_sequences():
        trace = full()
        per_sequence = getattr(trace, "per_sequence", None)
        if per_sequence is None:
            per_sequence = next(s.value for s in trace.steps if "sequence" in s.name.lower())
        mean = per_sequence.mean()
        return _trace(
            mean,
            [
                losses.Step(
                    # a label in words, not an engine key: run during the request, so gettext
                    name=gettext("per-sequence perplexity"),
                    formula=r"\mathrm{PPL}_s = \exp\bigl(\tfrac{1}{n_s}\sum_{t \in s} \ell_t\bigr)",
                    value=per_sequence,
                    note="",
                ),
                losses.Step(
                    name=gettext("their mean"),
                    formula=r"\tfrac{1}{S}\sum_s \mathrm{PPL}_s",
                    value=mean,
                    note=gettext_noop(
                        "short sequences weigh as much as long ones, and exp is convex"
                    ),
                ),
            ],
            trace.code + "\n# the mistake: per_sequence.mean() instead of the corpus value",
        )

    return [
        Comparison(
            _("A corpus's perplexity is not the mean of its sentences'"),
            side("wrong", "per_sequence_ppl.mean()", mean_of_sequences),
            side("right", "torch.exp(token_nll.mean())  # over every token", full),
        )
    ]


MISTAKES: list[Mistake] = [
    Mistake(
        "probs-to-nll",
        _("Probabilities fed to NLLLoss"),
        (
            Field("logits", _("Logits"), "2 1 0.1\n1 2.5 0.5", rows=2),
            Field("target", _("Targets"), "0 1", target=True),
        ),
        _probs_to_nll,
    ),
    Mistake(
        "probs-to-kl",
        _("Probabilities fed to kl_div"),
        (
            Field("q", _("Model probabilities q"), "0.6 0.3 0.1\n0.2 0.7 0.1", rows=2),
            Field("p", _("True probabilities p"), "0.5 0.4 0.1\n0.1 0.8 0.1", rows=2),
        ),
        _probs_to_kl,
    ),
    Mistake(
        "softmax-before-ce",
        _("Softmax before CrossEntropyLoss"),
        (
            Field("logits", _("Logits"), "2 1 0.1\n1 2.5 0.5", rows=2),
            Field("target", _("Targets"), "0 1", target=True),
        ),
        _softmax_before_ce,
    ),
    Mistake(
        "class-dim",
        _("The class dimension"),
        (
            Field(
                "logits",
                _("Logits (N, L, C)"),
                "[[[3.0, 0.2, -1.0], [2.5, 0.3, -0.5], [3.2, -0.2, 0.1]]]",
                rows=2,
            ),
            Field("target", _("Targets (N, L)"), "[[0, 0, 0]]", target=True),
            Field(
                "unbatched",
                _("Scores (C, L), no batch dimension"),
                "[[3.0, 2.5, 3.2], [0.2, 0.3, -0.2], [-1.0, -0.5, 0.1]]",
                rows=2,
            ),
            Field("unbatched_target", _("Targets (L)"), "0 0 0", target=True),
        ),
        _class_dim,
    ),
    Mistake(
        "kl-mean-vs-batchmean",
        _("kl_div: mean vs batchmean"),
        (
            Field(
                "input",
                _("log q (input)"),
                "-0.5108 -1.2040 -2.3026\n-1.6094 -0.3567 -2.3026",
                rows=2,
            ),
            Field("target", _("p (target)"), "0.5 0.4 0.1\n0.1 0.8 0.1", rows=2),
        ),
        _kl_mean,
    ),
    Mistake(
        "log-softmax-underflow",
        _("log(softmax(x)) instead of log_softmax"),
        (Field("logits", _("Logits"), "0 200"),),
        _log_softmax_underflow,
    ),
    Mistake(
        "perplexity-mean-vs-corpus",
        _("Mean of per-sequence perplexities vs corpus perplexity"),
        (
            Field(
                "logits",
                _("Logits (one row per token)"),
                "2 0.5 0.1\n0.2 1.5 0.3\n0.1 0.2 2.2\n0.1 0.2 2.2\n1 1 1",
                rows=3,
            ),
            Field("target", _("Next tokens"), "0 1 2 0 1", target=True),
            Field("sequence_ids", _("Sequence of each token"), "0 0 0 0 1", target=True),
        ),
        _perplexity_mean,
    ),
]
