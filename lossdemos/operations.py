"""One calculation per loss op, shared by the API and the pages: raw values → tensors → the engine.

A raw value is text from a form field, decoded JSON from an API body, or a tensor already loaded from an
``.npy`` upload. Every problem with the input is an :class:`~lossdemos.parsing.InputError` naming the
field (``TooMany`` past the number limit), or the engine's ``LossInputError``; nothing else escapes for
bad input. The numbers come from :mod:`lossdemos.losses`; this module only reads options and, where the
reader asks for bits, divides nats by ln 2 as one more visible step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from kb.messages import Text, gettext_noop
from lossdemos import losses
from lossdemos.limits import ENTROPY_SOURCES, JSON_NUMBER_LIMIT, TRAIN_NUMBER_STEPS
from lossdemos.losses import checks, gradient, training
from lossdemos.parsing import InputError, TooMany, parse_json_tensor, parse_target

REDUCTIONS = ("none", "mean", "sum")
KL_REDUCTIONS = ("none", "mean", "sum", "batchmean")
BASES = ("e", "2")


@dataclass
class Computation:
    """The engine's trace plus what an op adds to the answer (perplexity's per-sequence values)."""

    op: str
    trace: Any
    extra: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    base: str = "e"
    gradient: gradient.Gradient | None = None  # with "grad": true


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class Inputs:
    """Reads fields of one request, keeping a running count of numbers against the JSON limit."""

    def __init__(
        self,
        values: Mapping[str, Any],
        *,
        tensors: Mapping[str, torch.Tensor] | None = None,
        max_numbers: int = JSON_NUMBER_LIMIT,
    ) -> None:
        self.values = values
        self.tensors = dict(tensors or {})
        self.remaining = max_numbers
        self.max_numbers = max_numbers
        self.parsed: dict[str, torch.Tensor] = {}
        self.float64 = False  # a float64 input makes the whole calculation float64

    def _count(self, tensor: torch.Tensor, name: str) -> None:
        self.remaining -= tensor.numel()
        if self.remaining < 0:
            used = self.max_numbers - self.remaining
            raise TooMany(
                Text.of(
                    gettext_noop("too many numbers: %(count)s in this request (limit %(limit)s)"),
                    count=f"{used:,}",
                    limit=f"{self.max_numbers:,}",
                ),
                field=name,
                count=used,
                limit=self.max_numbers,
            )

    def tensor(
        self, name: str, *, dtype: torch.dtype | None = None, required: bool = True
    ) -> torch.Tensor | None:
        """A tensor field; real numbers are float32 unless given as float64 (an .npy of float64,
        pasted ``dtype=torch.float64``), and then so is every real tensor read after it."""
        if name in self.tensors:
            tensor = self.tensors[name]
            wanted = dtype or self._float_dtype(tensor.dtype == torch.float64)
            tensor = tensor if tensor.dtype == wanted else tensor.to(wanted)
        else:
            raw = self.values.get(name)
            if _absent(raw):
                if required:
                    raise _refused(name, missing_message(name))
                return None
            wanted = dtype or self._float_dtype(_declares_float64(raw))
            tensor = parse_json_tensor(raw, field=name, dtype=wanted, max_numbers=self.max_numbers)
            self._count(tensor, name)
        self.parsed[name] = tensor
        return tensor

    def _float_dtype(self, float64: bool) -> torch.dtype:
        if float64:
            self.float64 = True
        return torch.float64 if self.float64 else torch.float32

    def target(
        self, name: str = "target", *, input_shape: tuple[int, ...] | None = None
    ) -> torch.Tensor:
        if name in self.tensors:
            tensor = self.tensors[name]
            if input_shape is not None and tuple(tensor.shape) == tuple(input_shape):
                tensor = tensor.to(torch.float64)
            elif not tensor.is_floating_point() or bool((tensor == tensor.round()).all()):
                tensor = tensor.to(torch.long)
        else:
            raw = self.values.get(name)
            if _absent(raw):
                raise _refused(name, missing_message(name))
            tensor = parse_target(
                raw,
                field=name,
                input_shape=input_shape,
                max_numbers=self.max_numbers,
                dtype=torch.float64,  # cast below, once the calculation's dtype is known
            )
            self._count(tensor, name)
        if tensor.is_floating_point():  # probabilities: in the dtype of the calculation
            tensor = tensor.to(self._float_dtype(False))
        self.parsed[name] = tensor
        return tensor

    def run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the engine; small inputs on one thread (see SMALL_INPUT)."""
        size = sum(t.numel() for t in self.parsed.values())
        with one_thread() if size < SMALL_INPUT else contextlib.nullcontext():
            return function(*args, **kwargs)

    def integer(self, name: str, default: int | None) -> int | None:
        raw = self.values.get(name)
        if _absent(raw):
            return default
        if isinstance(raw, bool):
            raise _refused(name, gettext_noop("%(field)s must be a whole number"))
        try:
            number = float(raw) if isinstance(raw, str) else raw
            if not isinstance(number, int | float) or number != int(number):
                raise ValueError
            number = int(number)
        except (ValueError, TypeError, OverflowError):
            raise _refused(
                name,
                gettext_noop("%(field)s must be a whole number, not %(value)s"),
                value=repr(raw),
            ) from None
        if abs(number) > 2**62:
            raise _refused(name, gettext_noop("%(field)s is too large"))
        return number

    def number(
        self,
        name: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        raw = self.values.get(name)
        if _absent(raw):
            return default
        if isinstance(raw, bool):
            raise _refused(name, gettext_noop("%(field)s must be a number"))
        try:
            number = float(raw)
        except (ValueError, TypeError, OverflowError):
            raise _refused(
                name,
                gettext_noop("%(field)s must be a number, not %(value)s"),
                value=repr(raw),
            ) from None
        if not math.isfinite(number):
            raise _refused(name, gettext_noop("%(field)s must be a finite number"))
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise _refused(
                name,
                gettext_noop("%(field)s must be between %(minimum)s and %(maximum)s"),
                minimum=f"{minimum:g}",
                maximum=f"{maximum:g}",
            )
        return number

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        raw = self.values.get(name)
        if _absent(raw):
            return default
        value = str(raw).strip().lower() if isinstance(raw, str | int) else raw
        if name == "base" and value in ("2.0", 2):
            value = "2"
        if value not in choices:
            raise _refused(
                name,
                gettext_noop("%(field)s must be one of %(choices)s, not %(value)s"),
                choices=", ".join(choices),
                value=repr(raw),
            )
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self.values.get(name)
        if _absent(raw):
            return default
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "on", "yes"):
            return True
        if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "off", "no"):
            return False
        raise _refused(name, gettext_noop("%(field)s must be true or false"))


_FLOAT64 = re.compile(r"dtype\s*=\s*(?:torch\.|np\.|numpy\.)?(?:float64|double)\b")


def _declares_float64(raw: Any) -> bool:
    """Pasted ``tensor([...], dtype=torch.float64)`` or ``array([...], dtype=float64)``."""
    return isinstance(raw, str) and _FLOAT64.search(raw) is not None


def missing_message(field: str) -> str:
    """ "the logits are missing", "the target is missing": the field's own grammatical number."""
    if field.endswith("s"):
        return gettext_noop("the %(field)s are missing")
    return gettext_noop("the %(field)s is missing")


def _refused(name: str, template: str, **params: Any) -> InputError:
    """The refusal of field ``name``: its sentence names it as %(field)s, and locates it."""
    return InputError(Text.of(template, field=name, **params), field=name)


# --- the ops ------------------------------------------------------------------------------------


def _softmax(inputs: Inputs) -> Computation:
    logits = inputs.tensor("logits")
    dim = inputs.integer("dim", -1)
    return Computation("softmax", inputs.run(losses.softmax, logits, dim=dim))


def _log_softmax(inputs: Inputs) -> Computation:
    logits = inputs.tensor("logits")
    dim = inputs.integer("dim", -1)
    return Computation("log-softmax", inputs.run(losses.log_softmax, logits, dim=dim))


def _entropy(inputs: Inputs) -> Computation:
    given = [
        name
        for name in ENTROPY_SOURCES
        if name in inputs.tensors or not _absent(inputs.values.get(name))
    ]
    if len(given) != 1:
        message = (
            Text.of(
                gettext_noop("give exactly one of probs, counts or logits (got %(given)s)"),
                given=", ".join(given),
            )
            if given
            else gettext_noop("give exactly one of probs, counts or logits")
        )
        raise InputError(message, field=given[1] if len(given) > 1 else "probs")
    source = given[0]
    base = inputs.choice("base", "e", BASES)
    tensor = inputs.tensor(source)
    trace = inputs.run(losses.entropy, **{source: tensor}, base=base)
    computation = Computation("entropy", trace, base=base)
    if inputs.flag("grad"):
        x = checks.real_tensor(tensor, source)
        computation.gradient = inputs.run(gradient.entropy_gradient, source, x, bits=base == "2")
    return computation


def _nll(inputs: Inputs) -> Computation:
    log_probs = inputs.tensor("input")
    target = inputs.target("target")
    weight = inputs.tensor("weight", required=False)
    options = {
        "ignore_index": inputs.integer("ignore_index", -100),
        "reduction": inputs.choice("reduction", "mean", REDUCTIONS),
    }
    trace = inputs.run(losses.nll, log_probs, target, weight=weight, **options)
    computation = Computation("nll", trace)
    if inputs.flag("grad"):
        x = checks.real_tensor(log_probs, "input")
        t = checks.index_target(x, target, options["ignore_index"])
        w = checks.weight_per_class(weight, x.shape[checks.class_dim_of(x)], x.dtype)
        computation.gradient = inputs.run(gradient.nll_gradient, x, t, weight=w, **options)
    return _in_base(computation, inputs)


def _cross_entropy(inputs: Inputs) -> Computation:
    logits = inputs.tensor("logits")
    target = inputs.target("target", input_shape=tuple(logits.shape))
    weight = inputs.tensor("weight", required=False)
    options = {
        "ignore_index": inputs.integer("ignore_index", -100),
        "label_smoothing": inputs.number("label_smoothing", 0.0, minimum=0.0, maximum=1.0),
        "reduction": inputs.choice("reduction", "mean", REDUCTIONS),
    }
    trace = inputs.run(losses.cross_entropy, logits, target, weight=weight, **options)
    computation = Computation("cross-entropy", trace)
    if inputs.flag("grad"):
        z = checks.real_tensor(logits, "logits")
        t, probability_target = checks.class_target(z, target, options["ignore_index"])
        w = checks.weight_per_class(weight, z.shape[checks.class_dim_of(z)], z.dtype)
        computation.gradient = inputs.run(
            gradient.cross_entropy_gradient,
            z,
            t,
            probability_target=probability_target,
            weight=w,
            log_p=next((s.value for s in trace.steps if s.name == "log_softmax"), None),
            **options,
        )
    return _in_base(computation, inputs)


def _kl(inputs: Inputs) -> Computation:
    log_q = inputs.tensor("input")
    target = inputs.tensor("target")
    options = {
        "reduction": inputs.choice("reduction", "mean", KL_REDUCTIONS),
        "log_target": inputs.flag("log_target"),
    }
    trace = inputs.run(losses.kl, log_q, target, **options)
    computation = Computation("kl", trace)
    if inputs.flag("grad"):
        x = checks.kl_input(log_q)
        t = checks.target_like(target, x, "input")
        computation.gradient = inputs.run(gradient.kl_gradient, x, t, **options)
    return _in_base(computation, inputs)


def _perplexity(inputs: Inputs) -> Computation:
    logits = inputs.tensor("logits")
    target = inputs.target("target")
    sequence_ids = inputs.tensor("sequence_ids", dtype=torch.long, required=False)
    base = inputs.choice("base", "e", BASES)
    seed = inputs.integer("sample_seed", None)
    trace = inputs.run(
        losses.perplexity,
        logits,
        target,
        sequence_ids=sequence_ids,
        ignore_index=inputs.integer("ignore_index", -100),
        base=base,
        sample_seed=seed,
    )
    # Without sequence ids every token belongs to one sequence, whose perplexity is the corpus's.
    per_sequence = trace.per_sequence if trace.per_sequence is not None else trace.result.reshape(1)
    extra = {"per_sequence": per_sequence, "mean_nll": trace.mean_nll}
    computation = Computation("perplexity", trace, extra=extra, base=base)
    if inputs.flag("grad"):
        z = checks.token_logits(logits)
        t = checks.index_target(z, target, inputs.integer("ignore_index", -100))
        computation.gradient = inputs.run(
            gradient.perplexity_gradient, z, t, ignore_index=inputs.integer("ignore_index", -100)
        )
    return computation


def _bce_with_logits(inputs: Inputs) -> Computation:
    logits = inputs.tensor("logits")
    target = inputs.tensor("target")
    weight = inputs.tensor("weight", required=False)
    pos_weight = inputs.tensor("pos_weight", required=False)
    reduction = inputs.choice("reduction", "mean", REDUCTIONS)
    trace = inputs.run(
        losses.binary_cross_entropy_with_logits,
        logits,
        target,
        weight=weight,
        pos_weight=pos_weight,
        reduction=reduction,
    )
    computation = Computation("bce-with-logits", trace)
    if inputs.flag("grad"):
        z = checks.real_tensor(logits, "logits")
        computation.gradient = inputs.run(
            gradient.bce_with_logits_gradient,
            z,
            checks.target_like(target, z, "logits"),
            weight=checks.broadcastable(weight, z, "weight"),
            pos_weight=checks.broadcastable(pos_weight, z, "pos_weight"),
            reduction=reduction,
        )
    return _in_base(computation, inputs)


def _train(inputs: Inputs) -> Computation:
    logits = inputs.tensor("logits")
    target = inputs.target("target", input_shape=tuple(logits.shape))
    weight = inputs.tensor("weight", required=False)
    steps = inputs.integer("steps", 20)
    if steps is not None and steps > 0 and logits.numel() * steps > TRAIN_NUMBER_STEPS:
        raise _refused(
            "steps",
            gettext_noop(
                "a training run may take %(limit)s numbers × steps; these logits allow at most "
                "%(allowed)s steps"
            ),
            limit=f"{TRAIN_NUMBER_STEPS:,}",
            allowed=f"{TRAIN_NUMBER_STEPS // logits.numel():,}",
        )
    run = inputs.run(
        training.train,
        logits,
        target,
        weight=weight,
        ignore_index=inputs.integer("ignore_index", -100),
        label_smoothing=inputs.number("label_smoothing", 0.0, minimum=0.0, maximum=1.0),
        learning_rate=inputs.number("learning_rate", 1.0, minimum=1e-6, maximum=1000.0),
        steps=steps,
    )
    extra = {"loss": run.result, "accuracy": run.accuracy, "perplexity": run.perplexity}
    return Computation("train", run, extra=extra)


OPERATIONS: dict[str, Callable[[Inputs], Computation]] = {
    "softmax": _softmax,
    "log-softmax": _log_softmax,
    "entropy": _entropy,
    "nll": _nll,
    "cross-entropy": _cross_entropy,
    "kl": _kl,
    "perplexity": _perplexity,
    "bce-with-logits": _bce_with_logits,
    "train": _train,
}


def compute(
    op: str,
    values: Mapping[str, Any],
    *,
    tensors: Mapping[str, torch.Tensor] | None = None,
    max_numbers: int = JSON_NUMBER_LIMIT,
) -> Computation:
    """Run ``op`` on raw values; raises InputError / TooMany / LossInputError for bad input."""
    inputs = Inputs(values, tensors=tensors, max_numbers=max_numbers)
    computation = OPERATIONS[op](inputs)
    computation.inputs = inputs.parsed
    return computation


# Below this many numbers an op takes microseconds, but entering an OpenMP region still waits for
# every intra-op thread: on a busy server that wait (a scheduler time slice, ~20 ms measured) is all
# of the request's time. One thread is then strictly faster; big tensors keep the parallel kernels.
SMALL_INPUT = 1 << 16
_threads_lock = threading.Lock()


@contextlib.contextmanager
def one_thread():
    # torch's thread count is per process; the lock keeps concurrent small requests from restoring
    # a count another one set. A big request running meanwhile may briefly run on one thread.
    with _threads_lock:
        before = torch.get_num_threads()
        if before > 1:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if before > 1:
                torch.set_num_threads(before)


# --- bits ---------------------------------------------------------------------------------------


def _in_base(computation: Computation, inputs: Inputs) -> Computation:
    """Losses are in nats; for base 2, divide by ln 2 as a visible last step."""
    base = inputs.choice("base", "e", BASES)
    computation.base = base
    if base == "e":
        return computation
    trace = computation.trace
    in_bits = trace.result / math.log(2)
    step = losses.Step(
        name="in_bits",
        formula=r"\ell_{\text{bits}} = \ell_{\text{nats}} / \ln 2",
        value=in_bits,
        note=gettext_noop("the same loss measured with log base 2"),
    )
    if computation.gradient is not None:
        grad = computation.gradient
        computation.gradient = dataclasses.replace(
            grad,
            value=grad.value / math.log(2),
            closed_form=grad.closed_form / math.log(2),
            formula=grad.formula + r" \,/ \ln 2",
        )
    code = _snippet_in_bits(trace.code)
    computation.trace = dataclasses.replace(
        trace, result=in_bits, steps=[*trace.steps, step], code=code
    )
    return computation


def _snippet_in_bits(code: str) -> str:
    """The snippet whose last line prints the loss in nats, made to print it in bits."""
    lines = code.rstrip("\n").split("\n")
    last = lines[-1]
    if not (last.startswith("print(") and last.endswith(")")):
        return code
    lines[-1] = f"print({last[len('print(') : -1]} / math.log(2))"
    if "import math" not in lines:
        lines.insert(0, "import math")
    return "\n".join(lines) + "\n"
