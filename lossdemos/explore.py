"""Distributions you can move: p and q as bars, every divergence between them, and their codes.

``/losses/<concept>/explore/`` for entropy, cross-entropy and KL. The page is a GET form (p, q, the
unit) whose numbers the server computes with PyTorch (:mod:`lossdemos.divergences`, through
:mod:`lossdemos.engine`) and whose coding lengths come from :mod:`lossdemos.coding`; ``explore.js``
makes the bars draggable and recomputes the same numbers in the browser as the reader drags.
Without JavaScript the form is the way in, and the page shows the same numbers.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from lossdemos import coding, engine

# The concept pages that link to this view: the title and the sentence each page starts with.
EXPLORE_CONCEPTS = {
    "entropy": (
        _("Entropy you can move"),
        _(
            "H(p) is the fewest bits per symbol any code for p can average. Drag p and watch the "
            "best code with whole bits (Huffman's) stay within one bit of it."
        ),
    ),
    "cross-entropy": (
        _("Cross-entropy you can move"),
        _(
            "H(p, q) is what each symbol from p costs with a code built for q. It is never less "
            "than H(p); the difference is KL(p‖q)."
        ),
    ),
    "kl": (
        _("KL divergence you can move"),
        _(
            "KL(p‖q) is the extra cost of using q's code for p's symbols. Drag the bars and watch "
            "the two directions differ, and Jensen–Shannon stay symmetric."
        ),
    ),
}
MIN_SYMBOLS = 2
MAX_SYMBOLS = 8
EXAMPLE = {"p": "0.5 0.25 0.125 0.125", "q": "0.1 0.2 0.3 0.4", "base": "2"}
_SEPARATORS = re.compile(r"[\s,;，；]+")


def format_number(value: float, places: int = 4) -> str:
    """``value`` to ``places`` decimals as ``Number.prototype.toFixed`` writes it (ties away from 0).

    explore.js shows the same numbers with ``toFixed``; Python's own rounding sends exact ties
    (0.03125) to the even digit, so the two would differ in the last place.
    """
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    text = str(Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def _parse_numbers(text: str, *, at_least_zero: bool) -> list[float]:
    """2 to 8 finite numbers (≥ 0 when ``at_least_zero``); raises ValidationError."""
    words = [w for w in _SEPARATORS.split(text.strip()) if w]
    if not words:
        raise forms.ValidationError(_("Enter between 2 and 8 numbers."))
    if (
        len(words) > MAX_SYMBOLS
    ):  # before reading any: a pasted tensor of millions is refused at once
        raise forms.ValidationError(
            _("Enter between 2 and 8 numbers (you entered %(count)s)."),
            params={"count": len(words)},
        )
    values = []
    for word in words:
        try:
            value = float(word)
        except ValueError:
            raise forms.ValidationError(
                _("“%(word)s” is not a number."), params={"word": word[:20]}
            ) from None
        if not math.isfinite(value) or (at_least_zero and value < 0):
            message = (
                _("“%(word)s”: every value must be a finite number ≥ 0.")
                if at_least_zero
                else _("“%(word)s”: every logit must be a finite number.")
            )
            raise forms.ValidationError(message, params={"word": word[:20]})
        values.append(value)
    if not MIN_SYMBOLS <= len(values) <= MAX_SYMBOLS:
        raise forms.ValidationError(
            _("Enter between 2 and 8 numbers (you entered %(count)s)."),
            params={"count": len(values)},
        )
    return values


def parse_distribution(text: str) -> list[float]:
    """Numbers ≥ 0 (probabilities, or weights divided by their sum); raises ValidationError."""
    values = _parse_numbers(text, at_least_zero=True)
    if sum(values) <= 0:
        raise forms.ValidationError(_("At least one value must be above 0."))
    return values


def parse_logits(text: str) -> list[float]:
    """Logits: any finite numbers, one per symbol; raises ValidationError."""
    return _parse_numbers(text, at_least_zero=False)


def normalise(values: list[float]) -> list[float]:
    total = sum(values)
    return [v / total for v in values]


# The temperature slider's range: from nearly the argmax (0.05) to nearly uniform (5).
MIN_TEMPERATURE = 0.05
MAX_TEMPERATURE = 5.0


class RangeInput(forms.NumberInput):
    """A slider: it submits with the form like any field, so the page needs no JavaScript for it."""

    input_type = "range"


class ExploreForm(forms.Form):
    p = forms.CharField(
        max_length=500,
        label=_("p (the distribution the symbols come from)"),
        help_text=_("2 to 8 numbers ≥ 0; they are divided by their sum."),
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )
    q = forms.CharField(
        max_length=500,
        required=False,  # the logits may make q instead
        label=_("q (the model, or the code you use)"),
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )
    logits = forms.CharField(
        max_length=500,
        required=False,
        label=_("Or q from logits z (one per symbol)"),
        help_text=_("When given, q = softmax(z / T) and the q above is not used."),
        widget=forms.TextInput(
            attrs={"spellcheck": "false", "autocomplete": "off", "placeholder": "2 1 0.1 -1"}
        ),
    )
    temperature = forms.FloatField(
        required=False,
        min_value=MIN_TEMPERATURE,
        max_value=MAX_TEMPERATURE,
        label=_("Temperature T"),
        widget=RangeInput(attrs={"step": "0.05"}),
    )
    base = forms.ChoiceField(
        label=_("Unit"),
        choices=[("2", _("bits (base 2)")), ("e", _("nats (base e)"))],
        initial="2",
        required=False,
    )

    def clean_p(self) -> list[float]:
        return parse_distribution(self.cleaned_data["p"])

    def clean_q(self) -> list[float] | None:
        text = self.cleaned_data["q"]
        return parse_distribution(text) if text.strip() else None

    def clean_logits(self) -> list[float] | None:
        text = self.cleaned_data["logits"]
        return parse_logits(text) if text.strip() else None

    def clean_temperature(self) -> float:
        value = self.cleaned_data["temperature"]
        return 1.0 if value is None else value

    def clean_base(self) -> str:
        return self.cleaned_data["base"] or "2"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        logits = data.get("logits")
        if logits is not None and "temperature" in data:
            data["q"] = engine.tempered_softmax(logits, data["temperature"])
        elif data.get("q") is None and "q" not in self.errors and not self.errors.get("logits"):
            self.add_error("q", forms.ValidationError(_("This field is required.")))
        p, q = data.get("p"), data.get("q")
        if p is not None and logits is not None and len(p) != len(logits):
            self.add_error(
                "logits",
                _("There are %(z)s logits and p has %(p)s values: give one logit per symbol.")
                % {"z": len(logits), "p": len(p)},
            )
        elif p is not None and q is not None and logits is None and len(p) != len(q):
            self.add_error(
                "q",
                _("q has %(q)s values and p has %(p)s: they must have one value per symbol.")
                % {"q": len(q), "p": len(p)},
            )
        return data


# --- what the page shows -----------------------------------------------------------------------

BAR_WIDTH = 560
BAR_HEIGHT = 170
BAR_TOP = 18
BAR_BOTTOM = 140


def bar_chart(values: list[float]) -> dict[str, Any]:
    """Bars on a fixed 0–1 scale, so a pointer's height is the probability it drags a bar to."""
    slot = BAR_WIDTH / len(values)
    scale = BAR_BOTTOM - BAR_TOP
    bars = []
    for i, v in enumerate(values):
        bars.append(
            {
                "symbol": i,
                "value": format_number(v),
                "slot_x": i * slot,
                "slot_width": slot,
                "x": i * slot + slot * 0.2,
                "width": slot * 0.6,
                "y": BAR_BOTTOM - v * scale,
                "height": v * scale,
                "text_x": i * slot + slot / 2,
                "text_y": BAR_BOTTOM - v * scale - 4,
            }
        )
    return {
        "bars": bars,
        "width": BAR_WIDTH,
        "height": BAR_HEIGHT,
        "top": BAR_TOP,
        "bottom": BAR_BOTTOM,
    }


def _log_name(base: str) -> str:
    return "log₂" if base == "2" else "ln"


def formulas(p: list[float], q: list[float], numbers: Any, base: str) -> list[dict[str, str]]:
    """Each quantity's definition, the reader's numbers put in, and the value (as explore.js)."""
    log = _log_name(base)
    f = format_number

    def kl_terms(a: list[float], b: list[float]) -> str:
        return " + ".join(
            f"{f(x)}·{log}({f(x)}/{f(y)})" if x > 0 else "0" for x, y in zip(a, b, strict=True)
        )

    entropy_terms = "−(" + " + ".join(f"{f(x)}·{log} {f(x)}" if x > 0 else "0" for x in p) + ")"
    cross_terms = (
        "−("
        + " + ".join(f"{f(x)}·{log} {f(y)}" if x > 0 else "0" for x, y in zip(p, q, strict=True))
        + ")"
    )
    return [
        {
            "key": "entropy_p",
            "name": "H(p)",
            "definition": f"−Σ pᵢ {log} pᵢ",
            "terms": entropy_terms,
            "value": f(numbers.entropy_p),
        },
        {
            "key": "cross_entropy_pq",
            "name": "H(p, q)",
            "definition": f"−Σ pᵢ {log} qᵢ",
            "terms": cross_terms,
            "value": f(numbers.cross_entropy_pq),
        },
        {
            "key": "kl_pq",
            "name": "KL(p‖q)",
            "definition": f"Σ pᵢ {log}(pᵢ/qᵢ) = H(p, q) − H(p)",
            "terms": kl_terms(p, q),
            "value": f(numbers.kl_pq),
        },
        {
            "key": "kl_qp",
            "name": "KL(q‖p)",
            "definition": f"Σ qᵢ {log}(qᵢ/pᵢ) = H(q, p) − H(q)",
            "terms": kl_terms(q, p),
            "value": f(numbers.kl_qp),
        },
        {
            "key": "js",
            "name": "JS(p, q)",
            "definition": "½ KL(p‖m) + ½ KL(q‖m),  m = ½(p + q)",
            "terms": "",
            "value": f(numbers.js),
        },
    ]


def softmax_terms(logits: list[float], temperature: float, q: list[float]) -> str:
    """``softmax([z₀, z₁, …] / T) = [q₀, q₁, …]`` with the reader's numbers (as explore.js)."""
    z = ", ".join(_short(v) for v in logits)
    return f"softmax([{z}] / {temperature:.2f}) = [{', '.join(format_number(v) for v in q)}]"


def _short(value: float) -> str:
    """A typed logit as JavaScript's String(Number(...)) prints it, for the usual sizes."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def coding_view(p: list[float], q: list[float]) -> dict[str, Any]:
    """The Huffman codes of p and of q, their average lengths under p, against H(p) and H(p, q)."""
    code_p = coding.huffman_code(p)
    code_q = coding.huffman_code(q)
    ideal_p = coding.ideal_lengths(p)
    ideal_q = coding.ideal_lengths(q)
    length_p = coding.average_length(p, [len(c) for c in code_p])
    length_q = coding.average_length(p, [len(c) for c in code_q])
    entropy = coding.average_length(p, ideal_p)
    cross = coding.average_length(p, ideal_q)
    symbols = [
        {
            "symbol": i,
            "p": format_number(p[i]),
            "q": format_number(q[i]),
            "ideal_p": format_number(ideal_p[i], 2),
            "ideal_q": format_number(ideal_q[i], 2),
            "code_p": code_p[i],
            "code_q": code_q[i],
        }
        for i in range(len(p))
    ]
    return {
        "symbols": symbols,
        "chart_p": coding.coding_chart(p, code_p, ideal_p),
        "chart_q": coding.coding_chart(p, code_q, ideal_q, reference=ideal_p),
        "length_p": format_number(length_p),
        "length_q": format_number(length_q),
        "entropy": format_number(entropy),
        "cross_entropy": format_number(cross),
        "gap": format_number(cross - entropy),
        "summary": summary_bars(entropy, cross, length_p, length_q),
    }


SUMMARY_WIDTH = 560
SUMMARY_ORIGIN = 150  # the bars start right of their labels


def summary_bars(entropy: float, cross: float, length_p: float, length_q: float) -> dict[str, Any]:
    """Four horizontal bars on one bit scale: H(p), H(p, q) = H(p) + KL, and the two Huffman codes."""
    finite = [v for v in (entropy, cross, length_p, length_q) if math.isfinite(v)]
    top = max(max(finite), 1.0) if finite else 1.0
    scale = (SUMMARY_WIDTH - SUMMARY_ORIGIN - 60) / top

    def width(v: float) -> float:
        return min(v, top) * scale if math.isfinite(v) else (SUMMARY_WIDTH - SUMMARY_ORIGIN - 60)

    return {
        "entropy": width(entropy),
        "cross": width(cross),
        "gap_x": SUMMARY_ORIGIN + width(entropy),
        "gap_label_x": SUMMARY_ORIGIN + width(entropy) + 4,
        "gap": max(width(cross) - width(entropy), 0.0),
        "length_p": width(length_p),
        "length_q": width(length_q),
        "width": SUMMARY_WIDTH,
    }


def explore_context(p_raw: list[float], q_raw: list[float], base: str) -> dict[str, Any]:
    p, q = normalise(p_raw), normalise(q_raw)
    numbers = engine.divergences(p, q, base=base)
    return {
        "p": p,
        "q": q,
        "chart_p": bar_chart(p),
        "chart_q": bar_chart(q),
        "numbers": {name: format_number(v) for name, v in vars(numbers).items()},
        "formulas": formulas(p, q, numbers, base),
        "coding": coding_view(p, q),
        "unit": base,
        "normalised": any(abs(sum(v) - 1) > 1e-9 for v in (p_raw, q_raw)),
    }


@require_GET
def explore_page(request: HttpRequest, slug: str) -> HttpResponse:
    if slug not in EXPLORE_CONCEPTS:
        raise Http404(gettext("There is no distribution explorer for “%(name)s”.") % {"name": slug})
    submitted = any(name in request.GET for name in ExploreForm.base_fields)
    form = ExploreForm(request.GET if submitted else EXAMPLE)
    context: dict[str, Any] = {
        "slug": slug,
        "title": EXPLORE_CONCEPTS[slug][0],
        "concept_lead": EXPLORE_CONCEPTS[slug][1],
        "form": form,
        "concept_url": reverse("lossdemos:concept", args=[slug]),
        "explore": None,
    }
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        context["explore"] = explore_context(data["p"], data["q"], data["base"])
        if data["logits"] is not None:
            # the q field shows the q the logits made, as explore.js writes it while T moves
            form.data = form.data.copy()
            form.data["q"] = " ".join(format_number(v) for v in data["q"])
            context["softmax_terms"] = softmax_terms(data["logits"], data["temperature"], data["q"])
    else:
        status = 400 if submitted else 200
    temperature = form.cleaned_data.get("temperature")
    context["temperature"] = f"{temperature if temperature is not None else 1.0:.2f}"
    context["temperature_range"] = {"min": MIN_TEMPERATURE, "max": MAX_TEMPERATURE}
    return render(request, "lossdemos/explore.html", context, status=status)
