"""Exercises at the end of each concept page: fresh numbers from a seed, checked, solved step by step.

The seed is in the address (``?seed=1234#exercise``), so an exercise can be shared and comes back
with the same numbers; the reader's answer comes back as ``answer``. The numbers are small and
"nice" (one decimal, counts out of 10 or 20) so the exercise can be done with a calculator, and the
exact answer is computed here in float64 — ``tests/lossdemos/test_exercises.py`` checks every kind
against ``torch.nn.functional``. Pure Python: no torch, so the concept page pays nothing for it.
"""

from __future__ import annotations

import math
import random
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

__all__ = ["Exercise", "check", "exercise", "page_context", "parse_answer"]

MAX_SEED = 10**9
# Asked "to 2 decimal places": a correctly rounded answer is within 0.005; larger answers
# (perplexity) may be given to 3 significant figures.
ABSOLUTE_TOLERANCE = 0.006
RELATIVE_TOLERANCE = 0.005


@dataclass(frozen=True)
class Step:
    text: str
    math: str


@dataclass(frozen=True)
class Exercise:
    slug: str
    seed: int
    question: str
    given: list[tuple[str, str]]
    answer: float
    unit: str
    steps: list[Step] = field(default_factory=list)

    @property
    def tolerance(self) -> float:
        return max(ABSOLUTE_TOLERANCE, RELATIVE_TOLERANCE * abs(self.answer))


def n(x: float, places: int = 4) -> str:
    return f"{x:.{places}f}"


def signed_sum(values: list[float]) -> str:
    """``0.3296 − 0.1532 + 0.0000``: a negative term is subtracted, not added as ``+ -0.1532``."""
    text = n(values[0])
    for v in values[1:]:
        text += f" − {n(-v)}" if v < 0 else f" + {n(v)}"
    return text


def vector(values: list[float], places: int = 1) -> str:
    return "[" + ", ".join(f"{v:.{places}f}" for v in values) + "]"


def _one_decimal(rng: random.Random, low: int, high: int) -> float:
    """A number with one decimal between low and high (in tenths)."""
    return rng.randint(low, high) / 10


def _counts(rng: random.Random, symbols: int, total: int) -> list[int]:
    """``symbols`` counts ≥ 1 adding up to ``total``: a distribution with short decimals."""
    cuts = sorted(rng.sample(range(1, total), symbols - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


# --- one generator per concept ------------------------------------------------------------------


def _softmax(rng: random.Random) -> tuple[str, list, float, str, list[Step]]:
    z = [_one_decimal(rng, -20, 30) for _ in range(3)]
    k = rng.randrange(3)
    exps = [math.exp(v) for v in z]
    total = sum(exps)
    answer = exps[k] / total
    question = _(
        "The logits are z = %(z)s. What probability does softmax give class %(k)s "
        "(classes count from 0)?"
    ) % {"z": vector(z), "k": k}
    steps = [
        Step(
            _("Exponentiate every logit."),
            ", ".join(f"e^{v:.1f} = {n(e)}" for v, e in zip(z, exps, strict=True)),
        ),
        Step(_("Add them up."), f"Σ = {' + '.join(n(e) for e in exps)} = {n(total)}"),
        Step(
            _("Divide class %(k)s's exponential by the sum.") % {"k": k},
            f"p{k} = {n(exps[k])} / {n(total)} = {n(answer)}",
        ),
    ]
    return question, [("z", vector(z))], answer, "", steps


def _entropy(rng: random.Random) -> tuple[str, list, float, str, list[Step]]:
    counts = _counts(rng, rng.choice([3, 4]), 20)
    p = [c / 20 for c in counts]
    terms = [-x * math.log2(x) for x in p]
    answer = sum(terms)
    question = _(
        "A source emits symbols with probabilities p = %(p)s. What is its entropy in bits?"
    ) % {"p": vector(p, 2)}
    steps = [
        Step(
            _("Each symbol's share: −pᵢ log₂ pᵢ."),
            ", ".join(f"−{x:.2f}·log₂ {x:.2f} = {n(t)}" for x, t in zip(p, terms, strict=True)),
        ),
        Step(_("Add the shares."), f"H(p) = {' + '.join(n(t) for t in terms)} = {n(answer)}"),
    ]
    return question, [("p", vector(p, 2))], answer, _("bits"), steps


def _cross_entropy(rng: random.Random) -> tuple[str, list, float, str, list[Step]]:
    z = [_one_decimal(rng, -20, 30) for _ in range(3)]
    t = rng.randrange(3)
    exps = [math.exp(v) for v in z]
    lse = math.log(sum(exps))
    answer = lse - z[t]
    question = _(
        "A classifier outputs the logits z = %(z)s and the right class is %(t)s. What is the "
        "cross-entropy loss, F.cross_entropy, in nats?"
    ) % {"z": vector(z), "t": t}
    steps = [
        Step(
            _("log-sum-exp of the logits: the log of softmax's denominator."),
            f"log Σ e^zⱼ = ln({' + '.join(n(e) for e in exps)}) = {n(lse)}",
        ),
        Step(
            _("The loss is that minus the right class's logit: −log softmax(z)ₜ."),
            f"{n(lse)} − ({z[t]:.1f}) = {n(answer)}",
        ),
    ]
    return question, [("z", vector(z)), ("t", str(t))], answer, _("nats"), steps


def _nll(rng: random.Random) -> tuple[str, list, float, str, list[Step]]:
    p = [_one_decimal(rng, 1, 9) for _ in range(3)]
    answer, steps = _mean_nll(
        p,
        _("Each example's loss is −ln of the probability of its right class."),
        _("Average them."),
    )
    question = _(
        "A model gives the right class of three examples the probabilities %(p)s. What is the "
        "mean negative log-likelihood (F.nll_loss with reduction='mean') in nats?"
    ) % {"p": vector(p)}
    return question, [("p", vector(p))], answer, _("nats"), steps


def _mean_nll(p: list[float], each: str, average: str) -> tuple[float, list[Step]]:
    """The mean of −ln pᵢ, and its two worked steps (each term, then their average)."""
    nlls = [-math.log(x) for x in p]
    mean = sum(nlls) / len(p)
    return mean, [
        Step(each, ", ".join(f"−ln {x:.1f} = {n(v)}" for x, v in zip(p, nlls, strict=True))),
        Step(average, f"({' + '.join(n(v) for v in nlls)}) / {len(p)} = {n(mean)}"),
    ]


def _kl(rng: random.Random) -> tuple[str, list, float, str, list[Step]]:
    p = [c / 10 for c in _counts(rng, 3, 10)]
    q = [c / 10 for c in _counts(rng, 3, 10)]
    terms = [a * math.log(a / b) for a, b in zip(p, q, strict=True)]
    answer = sum(terms)
    question = _(
        "p = %(p)s is the true distribution and q = %(q)s the model's. What is KL(p‖q) in nats?"
    ) % {"p": vector(p), "q": vector(q)}
    steps = [
        Step(
            _("Each symbol's term: pᵢ ln(pᵢ / qᵢ) — negative where q gives more than p."),
            ", ".join(
                f"{a:.1f}·ln({a:.1f}/{b:.1f}) = {n(t)}" for a, b, t in zip(p, q, terms, strict=True)
            ),
        ),
        Step(_("Add the terms."), f"KL(p‖q) = {signed_sum(terms)} = {n(answer)}"),
    ]
    return question, [("p", vector(p)), ("q", vector(q))], answer, _("nats"), steps


def _perplexity(rng: random.Random) -> tuple[str, list, float, str, list[Step]]:
    p = [_one_decimal(rng, 1, 9) for _ in range(4)]
    mean, steps = _mean_nll(p, _("Each token's NLL is −ln of its probability."), _("The mean NLL."))
    answer = math.exp(mean)
    question = _(
        "A language model gives the four tokens of a sentence the probabilities %(p)s. What is "
        "the sentence's perplexity?"
    ) % {"p": vector(p)}
    steps += [
        Step(
            _(
                "Perplexity is e to the mean NLL: as unsure as a fair choice among this many tokens."
            ),
            f"e^{n(mean)} = {n(answer)}",
        ),
    ]
    return question, [("p", vector(p))], answer, "", steps


GENERATORS: dict[str, Callable[[random.Random], tuple[str, list, float, str, list[Step]]]] = {
    "softmax": _softmax,
    "entropy": _entropy,
    "nll": _nll,
    "cross-entropy": _cross_entropy,
    "kl": _kl,
    "perplexity": _perplexity,
}


def exercise(slug: str, seed: int) -> Exercise:
    """The exercise of concept ``slug`` numbered ``seed``: the same seed, the same numbers."""
    rng = random.Random(f"{slug}:{seed}")  # noqa: S311 — reproducible numbers, not secrets
    question, given, answer, unit, steps = GENERATORS[slug](rng)
    return Exercise(slug, seed, question, given, answer, unit, steps)


_FRACTION = re.compile(r"^\s*([-+]?[\d.]+)\s*/\s*([-+]?[\d.]+)\s*$")


def parse_answer(text: str) -> float:
    """The reader's number: ``0.42``, ``0,42``, ``.42``, ``1/3``, full-width digits; else ValueError
    with the sentence to show."""
    text = (text or "").strip().replace("．", ".").replace("／", "/").replace("－", "-")
    if not text:
        raise ValueError(_("Type a number, for example 0.42."))
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    fraction = _FRACTION.match(text)
    try:
        value = float(fraction[1]) / float(fraction[2]) if fraction else float(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(
            _("“%(text)s” is not a number; type it like 0.42.") % {"text": text[:30]}
        ) from None
    if not math.isfinite(value):
        raise ValueError(_("Type a finite number, for example 0.42."))
    return value


def check(ex: Exercise, value: float) -> bool:
    return abs(value - ex.answer) <= ex.tolerance


def _seed(params: Mapping[str, Any]) -> int | None:
    text = str(params.get("seed", "")).strip()
    if text.isdigit() and int(text) < MAX_SEED:
        return int(text)
    return None


def page_context(slug: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """What the concept page's exercise section shows for this address."""
    if slug not in GENERATORS:
        return {}
    seed = _seed(params)
    ex = exercise(slug, seed if seed is not None else secrets.randbelow(MAX_SEED))
    context: dict[str, Any] = {
        "exercise": ex,
        "exercise_answer": "",
        "exercise_verdict": None,
        "exercise_error": None,
        "exercise_next_seed": secrets.randbelow(MAX_SEED),
        "exercise_answer_shown": f"{ex.answer:.4f}",
    }
    if "answer" in params and seed is not None:
        context["exercise_answer"] = str(params["answer"])[:60]
        try:
            value = parse_answer(context["exercise_answer"])
        except ValueError as exc:
            context["exercise_error"] = str(exc)
        else:
            context["exercise_verdict"] = "right" if check(ex, value) else "wrong"
    context["exercise_solution"] = context["exercise_verdict"] is not None or (
        params.get("solution") == "1" and seed is not None
    )
    return context
