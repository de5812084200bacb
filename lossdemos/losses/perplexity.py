r"""Perplexity of next-token predictions: of a corpus, of each sequence in it, and how often a token
sampled from the model's softmax equals the target."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from kb.messages import Text, gettext_noop
from lossdemos.losses.checks import (
    base_is_two,
    call_pytorch,
    check_ignore_index,
    check_samplable,
    check_sample_seed,
    index_target,
    sequence_id_tensor,
    token_logits,
    where_text,
)
from lossdemos.losses.classification import warn_impossible_targets
from lossdemos.losses.snippets import keyword_arguments, snippet
from lossdemos.losses.trace import PerplexityTrace, Working

__all__ = ["perplexity"]


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
    z = token_logits(logits)
    ignore_index = check_ignore_index(ignore_index)
    bits = base_is_two(base)
    target = index_target(z, target, ignore_index)
    ids = sequence_id_tensor(sequence_ids, z.shape[0])
    check_sample_seed(sample_seed, z.shape[1])
    work = Working()
    # log_softmax once; F.cross_entropy without smoothing is exactly nll_loss of it, so the token
    # losses, the mean and the warnings all come from this one tensor.
    log_p = F.log_softmax(z, dim=1)
    token_nll, counted, count = _token_nll(work, log_p, target, ignore_index)
    mean_nats = call_pytorch(F.nll_loss, log_p, target, ignore_index=ignore_index, reduction="mean")
    mean_nll, result = _corpus_perplexity(work, mean_nats, bits)
    sequences = _per_sequence(work, ids, token_nll, counted, bits) if ids is not None else {}
    samples = {}
    if sample_seed is not None:
        samples = _samples(work, z, target, counted, count, sample_seed)
    return PerplexityTrace(
        result=result,
        steps=work.steps,
        warnings=work.warnings,
        code=_code(z, target, ids, ignore_index, bits, sample_seed),
        mean_nll=mean_nll,
        unit="bits" if bits else "nats",
        token_count=count,
        **sequences,
        **samples,
    )


def _token_nll(
    work: Working, log_p: torch.Tensor, target: torch.Tensor, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The steps from each token's NLL to their mean; returns the NLLs, the counted mask, T."""
    token_nll = work.step(
        "token_nll",
        r"\text{NLL}_t = -\log p_{t,y_t}",
        call_pytorch(F.nll_loss, log_p, target, ignore_index=ignore_index, reduction="none"),
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
    warn_impossible_targets(work, log_p, target, ~counted)
    work.step(
        "mean_nll",
        r"\overline{\text{NLL}} = \frac{1}{T} \sum_t \text{NLL}_t",
        total_nll / token_count,
        gettext_noop("in nats; the same as F.cross_entropy(logits, target) with reduction='mean'"),
    )
    return token_nll, counted, count


def _corpus_perplexity(
    work: Working, mean_nats: torch.Tensor, bits: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean NLL in the unit asked for, and the perplexity."""
    if not bits:
        result = work.step(
            "perplexity",
            r"\text{PPL} = e^{\overline{\text{NLL}}}",
            _from_mean_nll(mean_nats, bits),
            gettext_noop(
                "the effective number of equally likely choices per token; 1 is perfect, C is a "
                "uniform guess over the vocabulary"
            ),
        )
        return mean_nats, result
    mean_nll = work.step(
        "mean_nll_bits",
        r"\frac{\overline{\text{NLL}}}{\ln 2}",
        mean_nats / math.log(2),
        gettext_noop("in bits: divide nats by ln 2"),
    )
    result = work.step(
        "perplexity",
        r"\text{PPL} = 2^{\overline{\text{NLL}}_2} = e^{\overline{\text{NLL}}}",
        _from_mean_nll(mean_nats, bits),
        gettext_noop(
            "2^(nats / ln 2) = e^nats: perplexity is the same in every base; only the unit of "
            "the NLL (bits instead of nats) changes"
        ),
    )
    return mean_nll, result


def _from_mean_nll(mean_nats: torch.Tensor, bits: bool) -> torch.Tensor:
    """Perplexity from a mean NLL in nats, as ``2 ** bits`` in base 2 (the same number, rounded
    as a base-2 user computes it)."""
    return 2 ** (mean_nats / math.log(2)) if bits else mean_nats.exp()


def _per_sequence(
    work: Working, ids: torch.Tensor, token_nll: torch.Tensor, counted: torch.Tensor, bits: bool
) -> dict[str, torch.Tensor]:
    """Each sequence's perplexity: its tokens' NLLs summed with index_add_, counted with bincount."""
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
        torch.zeros(len(unique_ids), dtype=token_nll.dtype).index_add_(0, index, token_nll),
        gettext_noop("index_add_: the NLL of every token added to its sequence's total"),
    )
    sequence_tokens = work.step(
        "sequence_tokens",
        r"T_s",
        torch.bincount(index[counted], minlength=len(unique_ids)),
        gettext_noop("bincount of the counted tokens' sequence numbers"),
    )
    per_sequence = work.step(
        "sequence_perplexity",
        r"\text{PPL}_s = e^{\frac{1}{T_s}\sum_{t \in s} \text{NLL}_t}",
        _from_mean_nll(sequence_nll / sequence_tokens, bits),
        gettext_noop("each sequence on its own; the corpus perplexity is not their average"),
    )
    if (sequence_tokens == 0).any():
        work.warn(
            Text.of(
                gettext_noop(
                    "a sequence has every target equal to ignore_index, so its perplexity is "
                    "nan%(where)s"
                ),
                where=where_text(sequence_tokens == 0),
            )
        )
    return {
        "sequence_ids": unique_ids,
        "per_sequence": per_sequence,
        "sequence_token_counts": sequence_tokens,
    }


def _samples(
    work: Working,
    z: torch.Tensor,
    target: torch.Tensor,
    counted: torch.Tensor,
    count: int,
    seed: int,
) -> dict[str, torch.Tensor]:
    """One token drawn per row from softmax(z), and how often it equals the counted targets."""
    probabilities = F.softmax(z, dim=-1)
    check_samplable(probabilities)
    generator = torch.Generator().manual_seed(seed)
    sampled = work.step(
        "sampled",
        r"\hat{y}_t \sim \operatorname{softmax}(z_t)",
        torch.multinomial(probabilities, 1, generator=generator).squeeze(1),
        Text.of(
            gettext_noop(
                "one token drawn per row with torch.multinomial, generator seeded with %(seed)s"
            ),
            seed=seed,
        ),
    )
    hits = (sampled == target) & counted
    sample_accuracy = work.step(
        "sample_accuracy",
        r"\frac{1}{T} \sum_t \mathbb{1}[\hat{y}_t = y_t]",
        hits.sum().to(z.dtype) / count if count else torch.tensor(math.nan, dtype=z.dtype),
        gettext_noop("how often the sampled token equals the target, over the counted tokens"),
    )
    return {"sampled": sampled, "sample_accuracy": sample_accuracy}


def _code(
    z: torch.Tensor,
    target: torch.Tensor,
    ids: torch.Tensor | None,
    ignore_index: int,
    bits: bool,
    sample_seed: int | None,
) -> str:
    """The snippet: per-sequence and sampled lines when asked for, then the corpus perplexity."""
    kw = keyword_arguments(ignore_index=ignore_index)
    lines: list[str] = []
    if ids is not None:
        lines += [
            f"token_nll = F.cross_entropy(logits, target{kw}, reduction='none')",
            f"counted = target != {ignore_index}",
            "ids, seq = torch.unique(sequence_ids, sorted=True, return_inverse=True)",
            "seq_nll = torch.zeros(len(ids), dtype=token_nll.dtype).index_add_(0, seq, token_nll)",
            "seq_tokens = torch.bincount(seq[counted], minlength=len(ids))",
            "print(2 ** (seq_nll / seq_tokens / math.log(2)))  # per sequence"
            if bits
            else "print(torch.exp(seq_nll / seq_tokens))  # per sequence",
        ]
    if sample_seed is not None:
        lines += [
            f"generator = torch.Generator().manual_seed({sample_seed})",
            "sampled = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)",
            "print(sampled.squeeze(1))",
        ]
    lines.append(
        f"print(2 ** (F.cross_entropy(logits, target{kw}) / math.log(2)))"
        if bits
        else f"print(torch.exp(F.cross_entropy(logits, target{kw})))"
    )
    imports = {"torch", "F", "math"} if bits else {"torch", "F"}
    return snippet(
        [("logits", z), ("target", target), ("sequence_ids", ids)], lines, imports=imports
    )
