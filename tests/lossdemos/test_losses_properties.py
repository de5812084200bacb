"""Property tests: over random shapes and options, every trace equals torch.nn.functional, its own
formula steps, and an independent float64 numpy computation written here from the textbook formulas.
"""

import math
import os
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch.testing import assert_close

from lossdemos import losses

# Bounded so the whole lossdemos suite stays well under a minute; raise it for a deeper search:
# KB_PROPERTY_EXAMPLES=1000 pytest tests/lossdemos/test_losses_properties.py
EXAMPLES = int(os.environ.get("KB_PROPERTY_EXAMPLES", "60"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
NUMPY_TOLERANCE = {"rtol": 1e-5, "atol": 1e-4}  # float32 torch against float64 numpy
REDUCTIONS = ["none", "mean", "sum"]


def equal_to_pytorch(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """float32 tolerances (assert_close's defaults), NaN equal to NaN."""
    assert_close(actual, expected, equal_nan=True)


def close_to_numpy(actual: torch.Tensor, expected) -> None:
    expected = torch.as_tensor(np.array(expected, dtype=np.float64))
    assert_close(actual.double(), expected, equal_nan=True, **NUMPY_TOLERANCE)


# --- numpy references (float64, no torch) -----------------------------------------------------


def np_log_softmax(z: np.ndarray, axis: int) -> np.ndarray:
    m = z.max(axis=axis, keepdims=True)
    shifted = z - m
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def np_nll(log_p, target, weight, ignore_index, reduction, label_smoothing=0.0):
    """Loop over examples, like nllloss_reference; log_p has its class axis last."""
    classes = log_p.shape[-1]
    weight = np.ones(classes) if weight is None else weight
    flat_log_p = log_p.reshape(-1, classes)
    flat_target = target.reshape(-1)
    losses_, total_weight = [], 0.0
    for row, t in zip(flat_log_p, flat_target, strict=True):
        if t == ignore_index:
            losses_.append(0.0)
            continue
        nll = -weight[t] * row[t]
        smooth = -(weight * row).sum()
        losses_.append((1 - label_smoothing) * nll + label_smoothing / classes * smooth)
        total_weight += weight[t]
    per_example = np.array(losses_).reshape(target.shape)
    if reduction == "none":
        return per_example
    if reduction == "sum":
        return per_example.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.float64(per_example.sum()) / np.float64(total_weight)


def np_cross_entropy_probabilities(log_p, target, weight, reduction, label_smoothing):
    classes = log_p.shape[-1]
    weight = np.ones(classes) if weight is None else weight
    q = target * (1 - label_smoothing) + label_smoothing / classes
    per_example = -(weight * q * log_p).sum(-1)
    if reduction == "none":
        return per_example
    if reduction == "sum":
        return per_example.sum()
    return per_example.mean()


def np_kl(log_q, target, log_target, reduction):
    if log_target:
        pointwise = np.exp(target) * (target - log_q)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            pointwise = np.where(target > 0, target * (np.log(target) - log_q), 0.0)
    if reduction == "none":
        return pointwise
    if reduction == "sum":
        return pointwise.sum()
    if reduction == "batchmean":
        return pointwise.sum() / log_q.shape[0]
    return pointwise.mean()


def np_entropy(p, bits):
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    nats = terms.sum(-1)
    return nats / math.log(2) if bits else nats


def np_log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def np_bce_with_logits(x, y, weight, pos_weight, reduction):
    pos_weight = 1.0 if pos_weight is None else pos_weight
    weight = 1.0 if weight is None else weight
    elementwise = -weight * (pos_weight * y * np_log_sigmoid(x) + (1 - y) * np_log_sigmoid(-x))
    elementwise = np.broadcast_to(elementwise, x.shape)
    if reduction == "none":
        return elementwise
    if reduction == "sum":
        return elementwise.sum()
    return elementwise.mean()


# --- strategies -------------------------------------------------------------------------------


def floats_array(draw, shape, low=-8.0, high=8.0) -> np.ndarray:
    elements = st.floats(low, high, width=32, allow_nan=False)
    return draw(hnp.arrays(np.float32, shape, elements=elements))


@st.composite
def classification(draw):
    """Logits of shape (C), (N, C), (N, C, d1) or (N, C, d1, d2) and matching options."""
    classes = draw(st.integers(1, 5))
    layout = draw(st.sampled_from(["C", "NC", "NCd", "NCdd"]))
    batch = draw(st.integers(1, 4))
    spatial = [draw(st.integers(1, 3)) for _ in range(layout.count("d"))]
    shape = (classes,) if layout == "C" else (batch, classes, *spatial)
    logits = floats_array(draw, shape)
    target_shape = () if layout == "C" else (batch, *spatial)
    ignore_index = draw(st.sampled_from([-100, 0, classes - 1, 7]))
    size = int(np.prod(target_shape)) if target_shape else 1
    target = np.array(
        draw(st.lists(st.integers(0, classes - 1), min_size=size, max_size=size)), dtype=np.int64
    ).reshape(target_shape)
    ignored = draw(
        st.lists(st.booleans(), min_size=size, max_size=size).map(
            lambda flags: np.array(flags).reshape(target_shape)
        )
    )
    target = np.where(ignored, ignore_index, target) if ignore_index < 0 else target
    weight = draw(
        st.none()
        | st.lists(st.floats(0.125, 5.0, width=32), min_size=classes, max_size=classes).map(
            lambda w: np.array(w, dtype=np.float32)
        )
    )
    return logits, target, weight, ignore_index


@st.composite
def probabilities_like(draw, shape, class_axis, zeros=True):
    raw = floats_array(draw, shape, 0.0 if zeros else 0.0625, 1.0)
    raw = np.where(raw < 0.15, 0.0, raw) if zeros else raw
    total = raw.sum(axis=class_axis, keepdims=True)
    uniform = np.full_like(raw, 1.0 / raw.shape[class_axis])
    return np.where(total > 0, raw / np.where(total > 0, total, 1), uniform).astype(np.float32)


def class_last(array: np.ndarray) -> np.ndarray:
    return array if array.ndim == 1 else np.moveaxis(array, 1, -1)


# --- cross-entropy and NLL --------------------------------------------------------------------


@SETTINGS
@given(
    classification(),
    st.sampled_from(REDUCTIONS),
    st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0]),
)
def test_cross_entropy_with_class_indices(case, reduction, label_smoothing):
    logits, target, weight, ignore_index = case
    z, t = torch.from_numpy(logits), torch.from_numpy(target)
    w = None if weight is None else torch.from_numpy(weight)
    kwargs = {
        "weight": w,
        "ignore_index": ignore_index,
        "reduction": reduction,
        "label_smoothing": label_smoothing,
    }
    trace = losses.cross_entropy(z, t, **kwargs)
    expected = F.cross_entropy(z, t, **kwargs)
    equal_to_pytorch(trace.result, expected)
    equal_to_pytorch(trace.step("loss").value, expected)  # the formula, step by step
    class_dim = 0 if logits.ndim == 1 else 1
    log_p = np_log_softmax(logits.astype(np.float64), class_dim)
    close_to_numpy(
        trace.result,
        np_nll(class_last(log_p), target, weight, ignore_index, reduction, label_smoothing),
    )


@SETTINGS
@given(st.data(), st.sampled_from(REDUCTIONS), st.sampled_from([0.0, 0.2, 1.0]))
def test_cross_entropy_with_class_probabilities(data, reduction, label_smoothing):
    logits, _target, weight, _ignore = data.draw(classification())
    class_dim = 0 if logits.ndim == 1 else 1
    target = data.draw(probabilities_like(logits.shape, class_dim))
    z, t = torch.from_numpy(logits), torch.from_numpy(target)
    w = None if weight is None else torch.from_numpy(weight)
    kwargs = {"weight": w, "reduction": reduction, "label_smoothing": label_smoothing}
    trace = losses.cross_entropy(z, t, **kwargs)
    expected = F.cross_entropy(z, t, **kwargs)
    equal_to_pytorch(trace.result, expected)
    equal_to_pytorch(trace.step("loss").value, expected)
    log_p = np_log_softmax(logits.astype(np.float64), class_dim)
    close_to_numpy(
        trace.result,
        np_cross_entropy_probabilities(
            class_last(log_p),
            class_last(target.astype(np.float64)),
            weight,
            reduction,
            label_smoothing,
        ),
    )


@SETTINGS
@given(classification(), st.sampled_from(REDUCTIONS))
def test_nll(case, reduction):
    logits, target, weight, ignore_index = case
    class_dim = 0 if logits.ndim == 1 else 1
    log_p = torch.log_softmax(torch.from_numpy(logits), class_dim)
    t = torch.from_numpy(target)
    w = None if weight is None else torch.from_numpy(weight)
    kwargs = {"weight": w, "ignore_index": ignore_index, "reduction": reduction}
    trace = losses.nll(log_p, t, **kwargs)
    expected = F.nll_loss(log_p, t, **kwargs)
    equal_to_pytorch(trace.result, expected)
    equal_to_pytorch(trace.step("loss").value, expected)
    close_to_numpy(
        trace.result,
        np_nll(class_last(log_p.double().numpy()), target, weight, ignore_index, reduction),
    )


@SETTINGS
@given(classification(), st.sampled_from(["mean", "sum"]))
def test_every_target_ignored(case, reduction):
    logits, target, weight, _ = case
    z = torch.from_numpy(logits)
    t = torch.full(target.shape, -100, dtype=torch.long)
    w = None if weight is None else torch.from_numpy(weight)
    trace = losses.cross_entropy(z, t, weight=w, reduction=reduction, label_smoothing=0.1)
    if reduction == "mean":
        assert trace.result.isnan()
    else:
        assert trace.result.item() == 0.0
    equal_to_pytorch(trace.step("loss").value, trace.result)
    assert any("every target equals ignore_index" in w for w in trace.warnings)


@SETTINGS
@given(classification(), st.sampled_from(REDUCTIONS), st.sampled_from([0.0, 0.3]))
def test_minus_inf_logits_behave_as_in_pytorch(case, reduction, label_smoothing):
    logits, target, weight, ignore_index = case
    if logits.ndim == 1 or logits.shape[1] < 2:
        return
    logits = logits.copy()
    logits[:, 0] = -np.inf  # class 0 is impossible everywhere
    z, t = torch.from_numpy(logits), torch.from_numpy(target)
    w = None if weight is None else torch.from_numpy(weight)
    kwargs = {
        "weight": w,
        "ignore_index": ignore_index,
        "reduction": reduction,
        "label_smoothing": label_smoothing,
    }
    trace = losses.cross_entropy(z, t, **kwargs)
    expected = F.cross_entropy(z, t, **kwargs)
    equal_to_pytorch(trace.result, expected)
    equal_to_pytorch(trace.step("loss").value, expected)
    probabilities = losses.softmax(z, dim=1).result
    assert (probabilities[:, 0] == 0).all()


# --- KL divergence ----------------------------------------------------------------------------


@st.composite
def kl_case(draw):
    shape = draw(st.sampled_from([(4,), (2, 3), (3, 5), (2, 3, 4)]))
    log_q = np.log(draw(probabilities_like(shape, -1, zeros=False)))
    p = draw(probabilities_like(shape, -1))
    return log_q.astype(np.float32), p


@SETTINGS
@given(kl_case(), st.sampled_from(["none", "mean", "sum", "batchmean"]), st.booleans())
def test_kl(case, reduction, log_target):
    log_q, p = case
    if log_target:
        p = np.log(np.maximum(p, 1e-6)).astype(np.float32)
    x, t = torch.from_numpy(log_q), torch.from_numpy(p)
    trace = losses.kl(x, t, reduction=reduction, log_target=log_target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = F.kl_div(x, t, reduction=reduction, log_target=log_target)
    equal_to_pytorch(trace.result, expected)
    equal_to_pytorch(trace.step("loss").value, expected)
    close_to_numpy(
        trace.result, np_kl(log_q.astype(np.float64), p.astype(np.float64), log_target, reduction)
    )
    assert (KL_WARNING in trace.warnings) == (reduction == "mean")


KL_WARNING = losses.KL_MEAN_WARNING


# --- entropy ----------------------------------------------------------------------------------


@SETTINGS
@given(st.data(), st.sampled_from(["probs", "counts", "logits"]), st.booleans())
def test_entropy(data, source, bits):
    shape = data.draw(st.sampled_from([(1,), (4,), (3, 4), (2, 6)]))
    if source == "probs":
        values = data.draw(probabilities_like(shape, -1))
        p = values.astype(np.float64)
    elif source == "counts":
        flat = data.draw(
            st.lists(st.integers(0, 9), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))
        )
        values = np.array(flat, dtype=np.float32).reshape(shape)
        values[..., 0] += 1  # no empty rows
        p = values / values.sum(-1, keepdims=True, dtype=np.float64)
    else:
        values = floats_array(data.draw, shape)
        p = np.exp(np_log_softmax(values.astype(np.float64), -1))
    trace = losses.entropy(**{source: torch.from_numpy(values)}, base="2" if bits else "e")
    close_to_numpy(trace.result, np_entropy(p, bits))
    if source == "probs" and not trace.warnings:
        expected = torch.distributions.Categorical(probs=torch.from_numpy(values)).entropy()
        equal_to_pytorch(trace.step("entropy_nats").value, expected)
    assert trace.result.shape == shape[:-1]


# --- perplexity -------------------------------------------------------------------------------


@st.composite
def token_case(draw):
    tokens = draw(st.integers(1, 12))
    classes = draw(st.integers(2, 6))
    logits = floats_array(draw, (tokens, classes))
    target = np.array(
        draw(st.lists(st.integers(0, classes - 1), min_size=tokens, max_size=tokens)),
        dtype=np.int64,
    )
    ignored = np.array(draw(st.lists(st.booleans(), min_size=tokens, max_size=tokens)))
    target = np.where(ignored & draw(st.booleans()), -100, target)
    sequence_ids = np.array(
        draw(st.lists(st.integers(-2, 3), min_size=tokens, max_size=tokens)), dtype=np.int64
    )
    return logits, target, sequence_ids


def np_perplexity_per_sequence(logits, target, sequence_ids):
    log_p = np_log_softmax(logits.astype(np.float64), 1)
    result = []
    for sequence in sorted(set(sequence_ids.tolist())):
        nll = [
            -log_p[i, t]
            for i, (t, s) in enumerate(zip(target, sequence_ids, strict=True))
            if s == sequence and t != -100
        ]
        result.append(math.exp(sum(nll) / len(nll)) if nll else math.nan)
    return result


@SETTINGS
@given(token_case(), st.booleans())
def test_perplexity(case, bits):
    logits, target, sequence_ids = case
    z, t = torch.from_numpy(logits), torch.from_numpy(target)
    trace = losses.perplexity(
        z, t, sequence_ids=torch.from_numpy(sequence_ids), base="2" if bits else "e"
    )
    equal_to_pytorch(trace.result, torch.exp(F.cross_entropy(z, t)))
    equal_to_pytorch(trace.step("mean_nll").value, F.cross_entropy(z, t))  # total / count
    counted = target != -100
    mean_nats = (
        -np_log_softmax(logits.astype(np.float64), 1)[
            np.arange(len(target)), np.where(counted, target, 0)
        ][counted].mean()
        if counted.any()
        else math.nan
    )
    close_to_numpy(trace.result, math.exp(mean_nats) if counted.any() else math.nan)
    close_to_numpy(trace.mean_nll, mean_nats / math.log(2) if bits else mean_nats)
    close_to_numpy(trace.per_sequence, np_perplexity_per_sequence(logits, target, sequence_ids))
    assert trace.sequence_ids.tolist() == sorted(set(sequence_ids.tolist()))
    assert trace.token_count == int(counted.sum())


# --- binary cross-entropy with logits ---------------------------------------------------------


@st.composite
def binary_case(draw):
    shape = draw(st.sampled_from([(3,), (2, 4), (3, 2, 2)]))
    logits = floats_array(draw, shape)
    target = floats_array(draw, shape, 0.0, 1.0)
    if draw(st.booleans()):
        target = np.round(target)
    weight_shape = draw(st.sampled_from([None, shape, shape[-1:], (1,) * len(shape)]))
    weight = None if weight_shape is None else floats_array(draw, weight_shape, 0.125, 3.0)
    pos_weight = draw(st.sampled_from([None, shape[-1:]]))
    pos_weight = None if pos_weight is None else floats_array(draw, pos_weight, 0.125, 5.0)
    return logits, target, weight, pos_weight


@SETTINGS
@given(binary_case(), st.sampled_from(REDUCTIONS))
def test_binary_cross_entropy_with_logits(case, reduction):
    logits, target, weight, pos_weight = case

    def tensor(array):
        return None if array is None else torch.from_numpy(array)

    kwargs = {"weight": tensor(weight), "pos_weight": tensor(pos_weight), "reduction": reduction}
    trace = losses.binary_cross_entropy_with_logits(tensor(logits), tensor(target), **kwargs)
    expected = F.binary_cross_entropy_with_logits(tensor(logits), tensor(target), **kwargs)
    equal_to_pytorch(trace.result, expected)
    equal_to_pytorch(trace.step("loss").value, expected)
    close_to_numpy(
        trace.result,
        np_bce_with_logits(
            logits.astype(np.float64),
            target.astype(np.float64),
            None if weight is None else weight.astype(np.float64),
            None if pos_weight is None else pos_weight.astype(np.float64),
            reduction,
        ),
    )


# --- softmax and snippets ---------------------------------------------------------------------


@SETTINGS
@given(st.data())
def test_softmax_and_log_softmax(data):
    shape = data.draw(st.sampled_from([(1,), (5,), (2, 3), (2, 3, 4)]))
    logits = floats_array(data.draw, shape, -30.0, 30.0)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    z = torch.from_numpy(logits)
    trace = losses.softmax(z, dim=dim)
    equal_to_pytorch(trace.result, F.softmax(z, dim=dim))
    equal_to_pytorch(trace.step("probabilities").value, F.softmax(z, dim=dim))
    axis = dim % len(shape)
    close_to_numpy(trace.result, np.exp(np_log_softmax(logits.astype(np.float64), axis)))
    log_trace = losses.log_softmax(z, dim=dim)
    equal_to_pytorch(log_trace.step("log_softmax").value, F.log_softmax(z, dim=dim))
    close_to_numpy(log_trace.result, np_log_softmax(logits.astype(np.float64), axis))


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=max(EXAMPLES // 2, 10), deadline=None)
@given(classification(), st.sampled_from(REDUCTIONS), st.sampled_from([0.0, 0.25]))
def test_cross_entropy_snippet_prints_exactly_the_result(case, reduction, label_smoothing):
    logits, target, weight, ignore_index = case
    trace = losses.cross_entropy(
        torch.from_numpy(logits),
        torch.from_numpy(target),
        weight=None if weight is None else torch.from_numpy(weight),
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
    printed = []
    exec(trace.code, {"print": printed.append})
    assert torch.equal(printed[-1].nan_to_num(7.5), trace.result.nan_to_num(7.5))
