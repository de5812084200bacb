"""The working a loss shows: :class:`Trace` (result, steps, warnings, snippet) and how it is recorded.

A loss function creates a :class:`Working`, records each intermediate tensor of its formula with
``work.step(name, formula, value, note)`` and each surprise with ``work.warn(message)``, and ends
with ``work.trace(result, code)``. ``step`` returns the value it records, so the formula reads as
the computation: ``p = work.step("probabilities", r"p_i = ...", exp / total)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["PerplexityTrace", "Step", "Trace", "Working"]


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


class Working:
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
