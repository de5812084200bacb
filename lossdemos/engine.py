"""The loss engine, imported when a loss is first computed: the one seam between the web and torch.

Importing torch costs a process about 200 MB and over a CPU-second. The URL configuration imports
the loss pages, their forms and the loss API in every process — each web worker, every
``manage.py`` command (the system checks load the URLconf), the task worker — and most of those
never compute a loss. So those modules import only torch-free ones (:mod:`lossdemos.errors`,
:mod:`lossdemos.limits`, Django, kb) and reach the torch-backed modules — :mod:`lossdemos.operations`
(with ``losses`` and ``parsing``), :mod:`lossdemos.presenters` and ``gradient_presenters``,
:mod:`lossdemos.mistakes` and :mod:`lossdemos.likelihood` — only through the functions below. Each function imports its module
when called: the first loss page or API call in a process pays for torch, and later calls find the
module already in ``sys.modules``.

Nowhere else in kb, snapshots or lossdemos does a function import a project module.
``tests/lossdemos/test_torch_seam.py`` proves that a gunicorn worker serving the library,
``manage.py check`` and ``manage.py capture`` run without torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for the signatures only: importing these here would import torch
    import torch

    from lossdemos.mistakes import Mistake
    from lossdemos.operations import Computation

__all__ = [
    "coin_likelihood",
    "compute",
    "divergences",
    "json_answer",
    "load",
    "load_npy",
    "mistakes",
    "page_gradient",
    "page_results",
    "page_training",
    "tempered_softmax",
]


def compute(
    op: str, values: Mapping[str, Any], *, tensors: Mapping[str, torch.Tensor] | None = None
) -> Computation:
    """Run loss ``op`` on raw values; raises InputError / TooMany / LossInputError for bad input."""
    from lossdemos import operations

    return operations.compute(op, values, tensors=tensors)


def load_npy(data: Any, *, field: str, max_numbers: int) -> torch.Tensor:
    """An uploaded ``.npy`` file as a tensor (:func:`lossdemos.parsing.load_npy`)."""
    from lossdemos import parsing

    return parsing.load_npy(data, field=field, max_numbers=max_numbers)


def page_results(computation: Computation) -> dict[str, Any]:
    """What a loss page's results fragment shows (:func:`lossdemos.presenters.page_results`)."""
    from lossdemos import presenters

    return presenters.page_results(computation)


def page_gradient(computation: Computation) -> dict[str, Any] | None:
    """The gradient section (:func:`lossdemos.gradient_presenters.page_gradient`)."""
    from lossdemos import gradient_presenters

    return gradient_presenters.page_gradient(computation)


def page_training(computation: Computation) -> dict[str, Any]:
    """A training run for the page (:func:`lossdemos.gradient_presenters.page_training`)."""
    from lossdemos import gradient_presenters

    return gradient_presenters.page_training(computation)


def json_answer(computation: Computation) -> dict[str, Any]:
    """The loss API's answer (:func:`lossdemos.presenters.json_answer`)."""
    from lossdemos import presenters

    return presenters.json_answer(computation)


def coin_likelihood(text: str) -> dict[str, Any]:
    """The NLL page's coin demo (:func:`lossdemos.likelihood.coin_likelihood`)."""
    from lossdemos import likelihood

    return likelihood.coin_likelihood(text)


def mistakes() -> list[Mistake]:
    """The common mistakes, each able to run itself (:data:`lossdemos.mistakes.MISTAKES`)."""
    from lossdemos import mistakes

    return mistakes.MISTAKES


def divergences(p: list[float], q: list[float], *, base: str = "2") -> Any:
    """Entropy, cross-entropy, KL both ways and JS of p and q (:mod:`lossdemos.divergences`)."""
    from lossdemos import divergences

    return divergences.divergences(p, q, base=base)


def tempered_softmax(logits: list[float], temperature: float) -> list[float]:
    """softmax(logits / T) in float64 (:mod:`lossdemos.divergences`)."""
    from lossdemos import divergences

    return divergences.tempered_softmax(logits, temperature)


def load() -> None:
    """Import the whole engine now, for a process that would rather pay for torch up front."""
    from lossdemos import gradient_presenters, likelihood, mistakes, operations  # noqa: F401
