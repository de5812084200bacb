"""What the engine checks about its inputs, and the words it uses to say where.

Every input is checked here before any PyTorch call, and bad input raises :class:`LossInputError`
with a sentence a learner understands, so PyTorch's internal error text never reaches the user.
Each check is a small function named for what it returns or checks (``real_tensor``,
``index_target``, ``check_reduction``); a loss calls them in order and goes on to its formula.

Also here, because the warnings of every loss read them:

- the wording of locations and values (``where_text`` → " (at [1, 2])", ``shape_text``,
  ``number_text``) and :func:`sum_off_one` for "this row does not sum to 1";
- cheap facts about big tensors (``value_range``, ``any_below``, ``finite_max``, ...). An
  elementwise check such as ``(z < 0).any()`` writes a temporary as big as the input and walks it
  again: on a (512, 32000) upload each costs about as much as the loss itself. A reduction (amin,
  amax, aminmax) reads the data once and allocates nothing, and NaN propagates through it; the exact
  elementwise check runs only when the reduction cannot decide (a NaN somewhere).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from kb.messages import Text, gettext_noop
from lossdemos.errors import LossInputError

__all__ = [
    "SUM_TOLERANCE",
    "LossInputError",
    "any_above",
    "any_below",
    "any_equal",
    "any_tensor",
    "base_is_two",
    "broadcastable",
    "call_pytorch",
    "check_class_dim",
    "check_dim",
    "check_ignore_index",
    "check_label_smoothing",
    "check_one_source",
    "check_reduction",
    "check_samplable",
    "check_sample_seed",
    "class_dim_of",
    "class_target",
    "defined_logits",
    "distribution",
    "empty_batch_target",
    "finite_max",
    "finite_min",
    "first_index",
    "has_nan",
    "index_target",
    "kl_input",
    "no_examples",
    "number_text",
    "real_tensor",
    "sequence_id_tensor",
    "shape_text",
    "sum_off_one",
    "target_like",
    "token_logits",
    "value_range",
    "weight_per_class",
    "where_text",
    "whole_number_tensor",
]

SUM_TOLERANCE = 1e-3  # how far a row of probabilities may sum from 1 before we say so


# --- tensors ------------------------------------------------------------------------------------


def any_tensor(value: Any, field: str) -> torch.Tensor:
    """``value`` as a tensor of any numeric type (a tensor given is detached, not copied)."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
        raise LossInputError(_must_be_numbers(field), field=field)
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        raise LossInputError(_must_be_numbers(field), field=field) from None


def real_tensor(value: Any, field: str, *, examples_optional: bool = False) -> torch.Tensor:
    """A float32 or float64 tensor (other float and integer types become float32); with
    ``examples_optional`` a batch of no examples, shape (0, C, ...), is accepted as PyTorch does."""
    t = any_tensor(value, field)
    if t.is_complex():
        raise LossInputError(
            Text.of(
                gettext_noop("the %(field)s hold complex numbers; losses need real numbers"),
                field=field,
            ),
            field=field,
        )
    if t.numel() == 0 and not (examples_optional and no_examples(t)):
        raise LossInputError(_empty(field), field=field)
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t


def empty_batch_target(x: torch.Tensor, target: Any, *, probabilities: bool) -> torch.Tensor:
    """The target of a batch of no examples: empty, of the shape the loss expects."""
    t = any_tensor(target, "target")
    expected = tuple(x.shape) if probabilities else (0, *x.shape[2:])
    if t.numel() != 0:
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "the input has no examples (shape %(input)s), so the target must be empty too"
                ),
                input=shape_text(x.shape),
            ),
            field="target",
        )
    return t.reshape(expected).to(x.dtype if probabilities else torch.long)


def no_examples(t: torch.Tensor) -> bool:
    """Shape (0, C, ...): a batch of no examples, which PyTorch's losses answer (a mean of nan)."""
    return t.dim() >= 2 and t.shape[0] == 0 and all(n > 0 for n in t.shape[1:])


def whole_number_tensor(value: Any, field: str, what: str) -> torch.Tensor:
    """A long tensor; floats are accepted when every value is a whole number."""
    t = any_tensor(value, field)
    if t.is_complex():
        raise LossInputError(
            Text.of(gettext_noop("the %(field)s must be whole numbers"), field=field), field=field
        )
    if t.numel() == 0:
        raise LossInputError(_empty(field), field=field)
    if t.is_floating_point():
        whole = torch.isfinite(t) & (t == t.round())
        if not whole.all():
            raise _value_error(
                gettext_noop("%(what)s %(value)s is not a whole number"),
                t,
                ~whole,
                field,
                what,
                number_text,
            )
    return t.to(torch.long)


def target_like(target: Any, x: torch.Tensor, x_field: str) -> torch.Tensor:
    """A real target of exactly the shape of ``x`` (the ``input`` or the ``logits``), in its dtype."""
    t = real_tensor(target, "target").to(x.dtype)
    if t.shape != x.shape:
        template = (
            gettext_noop("target shape %(target)s does not match input shape %(input)s")
            if x_field == "input"
            else gettext_noop("target shape %(target)s does not match logits shape %(logits)s")
        )
        raise LossInputError(
            Text.of(template, **{"target": shape_text(t.shape), x_field: shape_text(x.shape)}),
            field="target",
        )
    return t


def broadcastable(value: Any, x: torch.Tensor, field: str) -> torch.Tensor | None:
    """An optional tensor (a weight) that broadcasts to the shape of ``x``, in its dtype."""
    if value is None:
        return None
    t = real_tensor(value, field).to(x.dtype)
    try:
        fits = torch.broadcast_shapes(t.shape, x.shape) == x.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "%(field)s shape %(shape)s cannot be broadcast to the logits shape %(logits)s"
                ),
                field=field,
                shape=shape_text(t.shape),
                logits=shape_text(x.shape),
            ),
            field=field,
        )
    return t


# --- classes and targets ------------------------------------------------------------------------


def class_dim_of(x: torch.Tensor) -> int:
    """The class dimension of ``torch.nn.functional``'s losses: 0 for one example, else 1."""
    return 0 if x.dim() == 1 else 1


def check_class_dim(x: torch.Tensor, field: str) -> int:
    """:func:`class_dim_of`, once ``x`` is known to have one."""
    if x.dim() == 0:
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "the %(field)s need a class dimension: C numbers for one example, or N rows "
                    "of C numbers"
                )
                if field.endswith("s")
                else gettext_noop(
                    "the %(field)s needs a class dimension: C numbers for one example, or N rows "
                    "of C numbers"
                ),
                field=field,
            ),
            field=field,
        )
    return class_dim_of(x)


def index_target(
    x: torch.Tensor, target: Any, ignore_index: int, *, probability_hint: bool = False
) -> torch.Tensor:
    """Class indices of the right shape, each in range or equal to ignore_index."""
    t = whole_number_tensor(target, "target", gettext_noop("target"))
    classes = x.shape[class_dim_of(x)]
    expected = () if x.dim() == 1 else (x.shape[0], *x.shape[2:])
    if x.dim() == 1 and t.shape == (1,):
        t = t.reshape(())  # one example: a target [3] means the class index 3
    if tuple(t.shape) != expected:
        raise _target_shape_error(x, t, expected, probability_hint)
    valid = (t == ignore_index) | ((t >= 0) & (t < classes))
    if not valid.all():
        bad = int(t[~valid].flatten()[0])
        allowed = "0" if classes == 1 else f"0–{classes - 1}"
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "target %(value)s is out of range for %(classes)s classes (valid: %(allowed)s, "
                    "or ignore_index %(ignore_index)s)"
                ),
                value=bad,
                classes=classes,
                allowed=allowed,
                ignore_index=ignore_index,
            ),
            field="target",
            index=first_index(~valid),
        )
    return t


def _target_shape_error(
    x: torch.Tensor, t: torch.Tensor, expected: tuple[int, ...], probability_hint: bool
) -> LossInputError:
    if x.dim() == 2 and t.dim() == 1:
        template = gettext_noop(
            "target shape %(target)s does not match input batch (%(batch)s)%(hint)s"
        )
    elif x.dim() == 1:
        template = gettext_noop(
            "target shape %(target)s does not fit one example of %(classes)s classes: "
            "give a single class index%(hint)s"
        )
    else:
        template = gettext_noop(
            "target shape %(target)s does not match input shape %(input)s: class indices "
            "need shape %(expected)s, the input shape without its class dimension%(hint)s"
        )
    hint = (
        Text.of(
            gettext_noop(" (or give class probabilities of shape %(shape)s)"),
            shape=shape_text(x.shape),
        )
        if probability_hint
        else ""
    )
    return LossInputError(
        Text.of(
            template,
            target=shape_text(t.shape),
            batch=x.shape[0],
            classes=x.shape[class_dim_of(x)],
            input=shape_text(x.shape),
            expected=shape_text(expected),
            hint=hint,
        ),
        field="target",
    )


def class_target(z: torch.Tensor, target: Any, ignore_index: int) -> tuple[torch.Tensor, bool]:
    """Cross-entropy's target and whether it holds class probabilities (it has the logits' shape)
    rather than class indices."""
    t = any_tensor(target, "target")
    # one logit and a whole-number target [0]: class 0 (probability 0 is no distribution)
    one_class_index = (
        tuple(z.shape) == tuple(t.shape) == (1,) and not t.is_floating_point() and bool(t[0] == 0)
    )
    if tuple(t.shape) != tuple(z.shape) or one_class_index:
        return index_target(z, t, ignore_index, probability_hint=True), False
    probabilities = real_tensor(t, "target").to(z.dtype)
    if ignore_index >= 0:  # F.cross_entropy refuses it (our loss is derived without calling it)
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "ignore_index %(ignore_index)s cannot be used with class probabilities as "
                    "the target: PyTorch supports ignore_index only for class indices (leave "
                    "it at -100)"
                ),
                ignore_index=ignore_index,
            ),
            field="ignore_index",
        )
    return probabilities, True


def weight_per_class(weight: Any, classes: int, dtype: torch.dtype) -> torch.Tensor | None:
    """One finite weight per class, or None."""
    if weight is None:
        return None
    w = real_tensor(weight, "weight")
    if w.dim() != 1 or w.numel() != classes:
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "input has %(classes)s classes but weight has %(count)s values%(shape)s"
                ),
                classes=classes,
                count=w.numel(),
                shape=""
                if w.dim() == 1
                else Text.of(
                    gettext_noop(" (shape %(shape)s; give one value per class)"),
                    shape=shape_text(w.shape),
                ),
            ),
            field="weight",
        )
    if not torch.isfinite(w).all():
        raise LossInputError(gettext_noop("the weight must be finite numbers"), field="weight")
    return w.to(dtype)


# --- distributions ------------------------------------------------------------------------------


def distribution(value: Any, field: str, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of non-negative finite numbers (probabilities or counts), none summing to 0; with the
    row sums."""
    t = real_tensor(value, field)
    _check_distribution_values(t, field, what)
    sums = t.sum(-1)
    if (sums == 0).any():
        raise LossInputError(
            Text.of(
                gettext_noop("a row of probs sums to 0, so it is not a distribution%(where)s")
                if field == "probs"
                else gettext_noop(
                    "a row of counts sums to 0, so it is not a distribution%(where)s"
                ),
                where=where_text(sums == 0),
            ),
            field=field,
        )
    return t, sums


def _check_distribution_values(t: torch.Tensor, field: str, what: str) -> None:
    if t.dim() == 0:
        raise LossInputError(
            Text.of(
                gettext_noop("the %(field)s must be a list of numbers, not one number"), field=field
            ),
            field=field,
        )
    finite = torch.isfinite(t)
    if not finite.all():
        raise _value_error(
            gettext_noop("%(what)s %(value)s in the %(field)s is not a finite number%(where)s"),
            t,
            ~finite,
            field,
            what,
            float,  # nan, inf or -inf, as Python writes them
            field=field,
            where=where_text(~finite),
        )
    negative = t < 0
    if negative.any():
        raise _value_error(
            gettext_noop("%(what)s %(value)s in the %(field)s is negative%(where)s"),
            t,
            negative,
            field,
            what,
            number_text,
            field=field,
            where=where_text(negative),
        )


def _value_error(
    template: str,
    t: torch.Tensor,
    mask: torch.Tensor,
    field: str,
    what: str,
    value_text: Callable[[float], Any],
    /,
    **params: Any,
) -> LossInputError:
    """The refusal of the first value of ``t`` where ``mask`` holds: ``template`` says what is
    wrong with that ``what`` (a "probability", a "count"), the error points at its index."""
    value = t[mask].flatten()[0].item()
    return LossInputError(
        Text.of(template, what=Text.of(what), value=value_text(value), **params),
        field=field,
        index=first_index(mask),
    )


def check_one_source(**sources: Any) -> None:
    """Exactly one of ``sources`` (entropy's probs, counts, logits) is given."""
    if sum(value is not None for value in sources.values()) != 1:
        raise LossInputError(gettext_noop("give exactly one of probs, counts or logits"))


def defined_logits(value: Any) -> torch.Tensor:
    """Rows of logits with a softmax: at least one dimension, and a finite maximum in every row."""
    z = real_tensor(value, "logits")
    if z.dim() == 0:
        raise LossInputError(
            gettext_noop("the logits need at least one row of scores"), field="logits"
        )
    bad = ~torch.isfinite(z).any(-1) | z.isnan().any(-1) | (z == math.inf).any(-1)
    if bad.any():
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "a row of logits has no finite maximum (all -inf, or a nan/+inf), "
                    "so softmax is undefined there%(where)s"
                ),
                where=where_text(bad),
            ),
            field="logits",
        )
    return z


def kl_input(value: Any) -> torch.Tensor:
    """KL's input, log q: at least one dimension."""
    log_q = real_tensor(value, "input")
    if log_q.dim() == 0:
        raise LossInputError(
            gettext_noop("the input must be a list of log-probabilities"), field="input"
        )
    return log_q


# --- tokens (perplexity) ------------------------------------------------------------------------


def token_logits(value: Any) -> torch.Tensor:
    """Logits of shape (N, C): one row of scores per token."""
    z = real_tensor(value, "logits")
    if z.dim() != 2:
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "perplexity needs logits of shape (N, C), one row of scores per token; got "
                    "shape %(shape)s (reshape a batch (B, T, C) to (B·T, C) and pass sequence_ids)"
                ),
                shape=shape_text(z.shape),
            ),
            field="logits",
        )
    return z


def sequence_id_tensor(value: Any, tokens: int) -> torch.Tensor | None:
    """One whole-number sequence id per token, or None."""
    if value is None:
        return None
    ids = whole_number_tensor(value, "sequence_ids", gettext_noop("sequence id"))
    if ids.shape != (tokens,):
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "sequence_ids has shape %(shape)s but there are %(tokens)s tokens: "
                    "give one sequence id per token"
                ),
                shape=shape_text(ids.shape),
                tokens=tokens,
            ),
            field="sequence_ids",
        )
    return ids


def check_sample_seed(seed: Any, classes: int) -> None:
    """None, or a seed torch.Generator takes, for classes torch.multinomial can sample from."""
    if seed is None:
        return
    if not _is_whole_number(seed) or seed < 0:
        raise LossInputError(
            gettext_noop("sample_seed must be a whole number ≥ 0"), field="sample_seed"
        )
    if seed >= 2**63:
        raise LossInputError(gettext_noop("sample_seed must be below 2**63"), field="sample_seed")
    if classes > 2**24:
        raise LossInputError(
            gettext_noop("torch.multinomial samples from at most 2**24 classes"),
            field="sample_seed",
        )


def check_samplable(probabilities: torch.Tensor) -> None:
    """Every row of ``probabilities`` is a distribution torch.multinomial can draw from."""
    broken = ~torch.isfinite(probabilities.sum(-1))  # a nan anywhere makes the sum nan
    if broken.any():
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "cannot sample from a row of the logits whose probabilities are nan "
                    "(every logit -inf, or a nan/+inf)%(where)s"
                ),
                where=where_text(broken),
            ),
            field="logits",
        )


# --- options ------------------------------------------------------------------------------------


def _is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_dim(x: torch.Tensor, dim: Any) -> int:
    if not _is_whole_number(dim):
        raise LossInputError(gettext_noop("dim must be a whole number"), field="dim")
    rank = max(x.dim(), 1)
    if not -rank <= dim < rank:
        raise LossInputError(
            Text.of(
                gettext_noop(
                    "dim %(dim)s is out of range for logits with %(rank)s dimension (valid: "
                    "%(low)s to %(high)s)"
                )
                if x.dim() == 1
                else gettext_noop(
                    "dim %(dim)s is out of range for logits with %(rank)s dimensions (valid: "
                    "%(low)s to %(high)s)"
                ),
                dim=dim,
                rank=x.dim(),
                low=-rank,
                high=rank - 1,
            ),
            field="dim",
        )
    return dim


def check_reduction(reduction: Any, allowed: Sequence[str]) -> str:
    if reduction not in allowed:
        raise LossInputError(
            Text.of(
                gettext_noop("reduction must be one of %(allowed)s"), allowed=", ".join(allowed)
            ),
            field="reduction",
        )
    return reduction


def check_ignore_index(ignore_index: Any) -> int:
    if not _is_whole_number(ignore_index):
        raise LossInputError(
            gettext_noop("ignore_index must be a whole number"), field="ignore_index"
        )
    return ignore_index


def check_label_smoothing(label_smoothing: Any) -> float:
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, int | float):
        raise LossInputError(
            gettext_noop("label_smoothing must be a number"), field="label_smoothing"
        )
    if not 0.0 <= label_smoothing <= 1.0:
        raise LossInputError(
            Text.of(
                gettext_noop("label_smoothing must be between 0 and 1 (got %(value)s)"),
                value=f"{label_smoothing:g}",
            ),
            field="label_smoothing",
        )
    return float(label_smoothing)


def base_is_two(base: str | float) -> bool:
    """``"2"``/``2`` → bits; ``"e"``/``math.e`` → nats."""
    if base == "e" or (isinstance(base, float) and math.isclose(base, math.e)):
        return False
    if base in ("2", 2):  # 2 == 2.0, so the float is accepted too
        return True
    raise LossInputError(gettext_noop("base must be 'e' (nats) or '2' (bits)"), field="base")


def call_pytorch(function: Callable[..., torch.Tensor], *args: Any, **kwargs: Any) -> torch.Tensor:
    """Call PyTorch; our checks should make failure impossible, but never show its text."""
    try:
        return function(*args, **kwargs)
    except RuntimeError as error:
        raise LossInputError(
            gettext_noop(
                "PyTorch could not compute this for these inputs; please check their shapes"
            )
        ) from error


# --- wording ------------------------------------------------------------------------------------


def first_index(mask: torch.Tensor) -> list[int]:
    if mask.dim() == 0:
        return []
    return [int(i) for i in mask.nonzero()[0]]


def where_text(mask: torch.Tensor) -> str:
    """ " (at [1, 2])" for the first True element of mask, or "" for a 0-d mask."""
    index = first_index(mask)
    return Text.of(gettext_noop(" (at %(index)s)"), index=index) if index else ""


def shape_text(shape: Sequence[int]) -> str:
    return str(tuple(int(n) for n in shape))


def number_text(value: float) -> str:
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return f"{value:g}"


def sum_off_one(sums: torch.Tensor, tolerance: float = SUM_TOLERANCE) -> dict[str, str] | None:
    """``total`` and ``where`` of the first row sum further than ``tolerance`` from 1, as text for
    a warning; None if every row sums to 1."""
    off = (sums - 1).abs() > tolerance
    if not off.any():
        return None
    return {"total": f"{sums[off].flatten()[0].item():.4g}", "where": where_text(off)}


def _empty(field: str) -> Text:
    if field.endswith("s"):
        return Text.of(gettext_noop("the %(field)s are empty"), field=field)
    return Text.of(gettext_noop("the %(field)s is empty"), field=field)


def _must_be_numbers(field: str) -> Text:
    return Text.of(gettext_noop("the %(field)s must be numbers"), field=field)


# --- cheap facts about big tensors --------------------------------------------------------------


def value_range(t: torch.Tensor) -> tuple[float, float]:
    """The smallest and largest value, in one pass; both nan if any value is nan."""
    low, high = torch.aminmax(t)
    return low.item(), high.item()


def has_nan(t: torch.Tensor) -> bool:
    return math.isnan(t.amax().item())


def any_below(t: torch.Tensor, bound: float) -> bool:
    """``(t < bound).any()``."""
    low = t.amin().item()
    return bool((t < bound).any()) if math.isnan(low) else low < bound


def any_above(t: torch.Tensor, bound: float) -> bool:
    """``(t > bound).any()``."""
    high = t.amax().item()
    return bool((t > bound).any()) if math.isnan(high) else high > bound


def any_equal(t: torch.Tensor, value: float) -> bool:
    """``(t == value).any()`` for value ±inf."""
    extreme = (t.amin() if value < 0 else t.amax()).item()
    return bool((t == value).any()) if math.isnan(extreme) else extreme == value


def finite_max(t: torch.Tensor, high: float) -> float | None:
    """The largest finite value of t (None if there is none), given ``high = t.amax()``."""
    if math.isnan(high) or high == math.inf:
        finite = t[torch.isfinite(t)]  # rare: nan or +inf present, so the exact, copying way
        return finite.amax().item() if finite.numel() else None
    return None if high == -math.inf else high


def finite_min(t: torch.Tensor) -> float:
    """The smallest finite value of t (+inf if there is none)."""
    low = t.amin().item()
    if math.isnan(low) or low == -math.inf:
        finite = t[torch.isfinite(t)]
        return finite.amin().item() if finite.numel() else math.inf
    return low
