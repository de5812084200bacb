"""The loss engine: PyTorch's known values, learner-facing errors, warnings and runnable snippets."""

import math
import warnings

import latex2mathml.converter
import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from lossdemos import losses
from lossdemos.losses import KL_MEAN_WARNING, LossInputError

LOGITS = torch.tensor([[2.0, 1.0, 0.1], [1.0, 2.5, 0.5]])
TARGET = torch.tensor([0, 1])
INF = math.inf


def printed_by(code: str):
    """Run a snippet and return what its last print() received (the tensor itself, not its text)."""
    printed = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(code, {"print": lambda *args: printed.append(args[0])})
    return printed[-1]


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-for-bit equal, NaN included."""
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and torch.equal(a.nan_to_num(7.5), b.nan_to_num(7.5))
    )


def error_of(function, *args, **kwargs) -> LossInputError:
    with pytest.raises(LossInputError) as caught:
        function(*args, **kwargs)
    return caught.value


# --- PyTorch's known values -------------------------------------------------------------------


def test_softmax_of_2_1_point_1():
    trace = losses.softmax(torch.tensor([2.0, 1.0, 0.1]))
    assert_close(trace.result, torch.tensor([0.6590, 0.2424, 0.0986]), atol=1e-4, rtol=0)


def test_cross_entropy_of_two_rows_without_reduction():
    trace = losses.cross_entropy(LOGITS, TARGET, reduction="none")
    assert_close(trace.result, torch.tensor([0.4170, 0.3064]), atol=1e-4, rtol=0)


def test_entropy_of_three_equal_counts_is_log2_3_bits():
    trace = losses.entropy(counts=torch.tensor([1.0, 1.0, 1.0]), base="2")
    assert_close(trace.result, torch.tensor(1.5850), atol=1e-4, rtol=0)


def test_entropy_in_nats_and_bits():
    assert_close(losses.entropy(probs=[0.5, 0.5]).result, torch.tensor(math.log(2)))
    assert_close(losses.entropy(probs=[0.5, 0.5], base="2").result, torch.tensor(1.0))
    assert_close(losses.entropy(probs=[1.0, 0.0, 0.0]).result, torch.tensor(0.0))


def test_entropy_is_per_row():
    trace = losses.entropy(probs=[[0.5, 0.5], [1.0, 0.0]], base="2")
    assert_close(trace.result, torch.tensor([1.0, 0.0]))


def test_entropy_accepts_the_web_layers_numeric_bases():
    assert_close(losses.entropy(probs=[0.5, 0.5], base=2).result, torch.tensor(1.0))
    assert_close(losses.entropy(probs=[0.5, 0.5], base=math.e).result, torch.tensor(math.log(2)))


def test_entropy_from_logits_equals_categorical_entropy():
    logits = torch.tensor([[2.0, 1.0, 0.1], [0.0, -INF, 3.0]])
    expected = torch.distributions.Categorical(logits=logits).entropy()
    assert_close(losses.entropy(logits=logits).result, expected)


def test_nll_of_log_softmax_equals_cross_entropy():
    log_probs = F.log_softmax(LOGITS, dim=1)
    assert_close(losses.nll(log_probs, TARGET).result, F.cross_entropy(LOGITS, TARGET))


def test_kl_batchmean_is_the_kl_divergence_per_example():
    p = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    q = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    expected = (p * (p / q).log()).sum() / 2
    assert_close(losses.kl(q.log(), p, reduction="batchmean").result, expected)


def test_binary_cross_entropy_with_logits_known_value():
    trace = losses.binary_cross_entropy_with_logits(
        torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0])
    )
    expected = (math.log(2) + math.log(1 + math.e**2)) / 2
    assert_close(trace.result, torch.tensor(expected))


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    trace = losses.perplexity(torch.zeros(4, 7), torch.tensor([0, 3, 6, 2]))
    assert_close(trace.result, torch.tensor(7.0))


# --- steps: named as documented, and the formula agrees with PyTorch --------------------------


def step_names(trace) -> list[str]:
    return [step.name for step in trace.steps]


def test_softmax_steps():
    trace = losses.softmax(LOGITS)
    assert step_names(trace) == ["max", "shifted", "exp", "sum", "probabilities", "log_softmax"]
    assert_close(trace.step("probabilities").value, trace.result)
    assert_close(trace.step("log_softmax").value, F.log_softmax(LOGITS, dim=-1))


def test_log_softmax_steps():
    trace = losses.log_softmax(LOGITS, dim=0)
    assert step_names(trace) == ["max", "shifted", "exp", "sum", "log_sum", "log_softmax"]
    assert_close(trace.step("log_softmax").value, F.log_softmax(LOGITS, dim=0))
    assert same(trace.result, F.log_softmax(LOGITS, dim=0))


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        (
            {},
            [
                "log_softmax",
                "picked",
                "class_weight",
                "weighted",
                "numerator",
                "denominator",
                "loss",
            ],
        ),
        ({"reduction": "sum"}, ["log_softmax", "picked", "class_weight", "weighted", "loss"]),
        (
            {"label_smoothing": 0.1, "reduction": "none"},
            ["log_softmax", "picked", "class_weight", "weighted", "smooth", "smoothed", "loss"],
        ),
    ],
)
def test_cross_entropy_index_steps(kwargs, names):
    trace = losses.cross_entropy(LOGITS, TARGET, weight=torch.tensor([1.0, 3.0, 1.0]), **kwargs)
    assert step_names(trace) == names
    assert_close(trace.step("loss").value, trace.result)


def test_cross_entropy_probability_steps():
    probabilities = torch.tensor([[0.7, 0.2, 0.1], [0.0, 1.0, 0.0]])
    trace = losses.cross_entropy(LOGITS, probabilities, label_smoothing=0.2)
    assert step_names(trace) == [
        "log_softmax",
        "smoothed_target",
        "weighted",
        "per_example",
        "denominator",
        "loss",
    ]
    assert_close(trace.step("loss").value, trace.result)


def test_weighted_mean_divides_by_the_weights_of_counted_targets():
    weight = torch.tensor([1.0, 3.0, 5.0])
    target = torch.tensor([0, -100])
    trace = losses.cross_entropy(LOGITS, target, weight=weight)
    assert trace.step("denominator").value.item() == 1.0  # only target 0 counts, with weight 1
    assert_close(trace.result, F.cross_entropy(LOGITS, target, weight=weight))


def test_nll_steps():
    trace = losses.nll(F.log_softmax(LOGITS, 1), TARGET, reduction="none")
    assert step_names(trace) == ["picked", "class_weight", "weighted", "loss"]


@pytest.mark.parametrize(
    ("reduction", "names"),
    [
        ("none", ["log_q", "p", "log_p", "pointwise", "loss"]),
        ("sum", ["log_q", "p", "log_p", "pointwise", "loss"]),
        ("mean", ["log_q", "p", "log_p", "pointwise", "total", "denominator", "loss"]),
        ("batchmean", ["log_q", "p", "log_p", "pointwise", "total", "denominator", "loss"]),
    ],
)
def test_kl_steps(reduction, names):
    trace = losses.kl(F.log_softmax(LOGITS, 1), F.softmax(LOGITS.flip(1), 1), reduction=reduction)
    assert step_names(trace) == names
    assert_close(trace.step("loss").value, trace.result)


def test_entropy_steps():
    assert step_names(losses.entropy(counts=[1, 2, 3], base="2")) == [
        "counts",
        "total",
        "probabilities",
        "log_p",
        "neg_p_log_p",
        "entropy_nats",
        "entropy_bits",
    ]
    assert step_names(losses.entropy(probs=[0.5, 0.5])) == [
        "probabilities",
        "log_p",
        "neg_p_log_p",
        "entropy_nats",
    ]


def test_bce_steps():
    trace = losses.binary_cross_entropy_with_logits(
        LOGITS,
        torch.ones_like(LOGITS),
        weight=torch.tensor([1.0, 2.0, 3.0]),
        pos_weight=torch.tensor([2.0, 1.0, 1.0]),
    )
    assert step_names(trace) == [
        "log_sigmoid",
        "log_one_minus_sigmoid",
        "positive_term",
        "negative_term",
        "weighted",
        "denominator",
        "loss",
    ]
    assert_close(trace.step("loss").value, trace.result)


def test_perplexity_steps():
    trace = losses.perplexity(
        LOGITS, TARGET, sequence_ids=torch.tensor([4, 9]), base="2", sample_seed=0
    )
    assert step_names(trace) == [
        "token_nll",
        "counted",
        "total_nll",
        "token_count",
        "mean_nll",
        "mean_nll_bits",
        "perplexity",
        "sequence_index",
        "sequence_nll",
        "sequence_tokens",
        "sequence_perplexity",
        "sampled",
        "sample_accuracy",
    ]


def test_every_step_has_a_formula_that_renders_to_mathml():
    traces = [
        losses.softmax(LOGITS),
        losses.log_softmax(LOGITS),
        losses.entropy(counts=[1, 2, 3], base="2"),
        losses.entropy(logits=LOGITS),
        losses.nll(F.log_softmax(LOGITS, 1), TARGET, weight=torch.ones(3)),
        losses.cross_entropy(LOGITS, TARGET, label_smoothing=0.1, weight=torch.ones(3)),
        losses.cross_entropy(
            LOGITS, F.softmax(LOGITS, 1), label_smoothing=0.1, weight=torch.ones(3)
        ),
        losses.kl(
            F.log_softmax(LOGITS, 1), F.log_softmax(LOGITS, 1), log_target=True, reduction="mean"
        ),
        losses.perplexity(LOGITS, TARGET, sequence_ids=[0, 1], base="2", sample_seed=1),
        losses.binary_cross_entropy_with_logits(
            LOGITS, torch.ones_like(LOGITS), pos_weight=torch.ones(3)
        ),
    ]
    for trace in traces:
        for step in trace.steps:
            assert step.formula, step.name
            assert "<math" in latex2mathml.converter.convert(step.formula)
            assert step.shape == list(step.value.shape)


# --- snippets reproduce the result exactly ----------------------------------------------------


def test_snippets_print_exactly_the_result():
    weight = torch.tensor([0.3, 1.7, 2.2])
    traces = [
        losses.softmax(torch.tensor([2.0, 1.0, 0.1])),
        losses.log_softmax(LOGITS, dim=0),
        losses.entropy(probs=[0.2, 0.3, 0.4], base="2"),  # normalised: the snippet does it too
        losses.entropy(counts=[1, 1, 1], base="2"),
        losses.entropy(logits=LOGITS),
        losses.nll(
            F.log_softmax(LOGITS, 1), torch.tensor([2, -100]), weight=weight, reduction="sum"
        ),
        losses.cross_entropy(LOGITS, torch.tensor([2, 0]), weight=weight, label_smoothing=0.15),
        losses.cross_entropy(LOGITS, F.softmax(LOGITS * 3, 1), reduction="none"),
        losses.cross_entropy(LOGITS.double(), TARGET, ignore_index=1),
        losses.kl(F.log_softmax(LOGITS, 1), F.softmax(-LOGITS, 1), reduction="batchmean"),
        losses.kl(F.log_softmax(LOGITS, 1), F.log_softmax(-LOGITS, 1), log_target=True),
        losses.perplexity(LOGITS, torch.tensor([1, -100])),
        losses.perplexity(LOGITS, TARGET, base="2", sequence_ids=[3, 3], sample_seed=5),
        losses.binary_cross_entropy_with_logits(
            LOGITS,
            torch.rand(2, 3),
            weight=torch.tensor([1.0, 0.5, 2.0]),
            pos_weight=torch.tensor([3.0, 1.0, 1.0]),
        ),
        losses.cross_entropy(torch.tensor([[0.0, -INF, 1.0]]), torch.tensor([1])),
    ]
    for trace in traces:
        assert same(printed_by(trace.code), trace.result), trace.code


def test_snippet_writes_float32_values_exactly():
    values = torch.tensor([0.1, 1 / 3, 16777217.0, 1e-45, -3.4028235e38, 2.0**-126, 0.0, -0.0])
    trace = losses.softmax(values)
    literal = trace.code.splitlines()[3]
    namespace = {}
    exec("import torch\n" + literal, namespace)
    assert torch.equal(namespace["logits"], values)


def test_snippet_for_float64_says_so():
    trace = losses.softmax(LOGITS.double())
    assert "dtype=torch.float64" in trace.code
    assert trace.result.dtype == torch.float64
    assert same(printed_by(trace.code), trace.result)


def test_snippet_shape():
    code = losses.cross_entropy(LOGITS, TARGET, reduction="none").code
    assert code == (
        "import torch\n"
        "import torch.nn.functional as F\n"
        "\n"
        "logits = torch.tensor([[2.0, 1.0, 0.1], [1.0, 2.5, 0.5]])\n"
        "target = torch.tensor([0, 1])\n"
        "print(F.cross_entropy(logits, target, reduction='none'))\n"
    )


def test_big_tensors_become_runnable_placeholders_of_the_same_shape():
    logits = torch.randn(64, 10)
    target = torch.randint(0, 10, (64,))
    trace = losses.cross_entropy(logits, target)
    assert "# your 64×10 logits" in trace.code
    assert "logits = torch.zeros(64, 10)" in trace.code
    assert "target = torch.tensor([" in trace.code  # 64 numbers: still written out
    printed = printed_by(trace.code)
    assert printed.shape == trace.result.shape
    assert_close(printed, torch.tensor(math.log(10)))  # zeros: a uniform model


def test_big_index_targets_get_a_long_placeholder():
    trace = losses.perplexity(torch.zeros(300, 2), torch.zeros(300, dtype=torch.long))
    assert "target = torch.zeros(300, dtype=torch.int64)" in trace.code
    assert same(printed_by(trace.code), trace.result)


# --- ignore_index, -inf and other edges behave as in PyTorch ----------------------------------


def test_all_ignored_mean_is_nan_and_explained():
    target = torch.tensor([-100, -100])
    trace = losses.cross_entropy(LOGITS, target)
    assert trace.result.isnan()
    assert same(trace.result, F.cross_entropy(LOGITS, target))
    assert any(
        "every target equals ignore_index" in w and "divides 0 by 0" in w for w in trace.warnings
    )


def test_all_ignored_sum_is_zero_and_explained():
    trace = losses.cross_entropy(LOGITS, torch.tensor([-100, -100]), reduction="sum")
    assert trace.result.item() == 0.0
    assert any("the sum is 0" in w for w in trace.warnings)


def test_all_ignored_with_weights_and_smoothing_is_still_nan():
    target = torch.tensor([1, 1])
    kwargs = {"weight": torch.tensor([1.0, 2.0, 3.0]), "ignore_index": 1, "label_smoothing": 0.3}
    trace = losses.cross_entropy(LOGITS, target, **kwargs)
    assert same(trace.result, F.cross_entropy(LOGITS, target, **kwargs))
    assert trace.result.isnan()


def test_minus_inf_logit_gets_probability_zero():
    trace = losses.softmax(torch.tensor([0.0, -INF, 1.0]))
    assert trace.result[1].item() == 0.0
    assert trace.step("probabilities").value[1].item() == 0.0


def test_picking_a_minus_inf_class_gives_an_infinite_loss():
    logits = torch.tensor([[0.0, -INF, 1.0]])
    trace = losses.cross_entropy(logits, torch.tensor([1]))
    assert trace.result.item() == INF
    assert trace.step("loss").value.item() == INF
    assert any("probability 0" in w and "inf" in w for w in trace.warnings)


def test_minus_inf_logit_not_picked_is_harmless():
    logits = torch.tensor([[0.0, -INF, 1.0]])
    trace = losses.cross_entropy(logits, torch.tensor([2]))
    assert same(trace.result, F.cross_entropy(logits, torch.tensor([2])))
    assert trace.result.isfinite()
    assert trace.warnings == []


def test_minus_inf_with_smoothing_is_infinite_as_in_pytorch():
    logits = torch.tensor([[0.0, -INF, 1.0]])
    trace = losses.cross_entropy(logits, torch.tensor([0]), label_smoothing=0.1)
    assert trace.result.item() == INF
    assert_close(trace.step("loss").value, trace.result)


def test_all_minus_inf_row_is_nan_and_explained():
    trace = losses.softmax(torch.tensor([[-INF, -INF], [0.0, 1.0]]))
    assert trace.result[0].isnan().all()
    assert any("every logit -inf" in w for w in trace.warnings)


def test_probability_target_zero_on_minus_inf_logit_is_nan_and_explained():
    logits = torch.tensor([[0.0, -INF, 1.0]])
    target = torch.tensor([[0.5, 0.0, 0.5]])
    trace = losses.cross_entropy(logits, target)
    assert same(trace.result, F.cross_entropy(logits, target))
    assert any("0 · (−inf) = nan" in w for w in trace.warnings)


def test_ignore_index_inside_the_class_range():
    trace = losses.nll(F.log_softmax(LOGITS, 1), TARGET, ignore_index=0)
    assert_close(trace.result, -F.log_softmax(LOGITS, 1)[1, 1])


def test_one_example_with_a_one_element_target():
    logits = torch.tensor([2.0, 1.0, 0.1])
    trace = losses.cross_entropy(logits, [0])
    assert trace.result.shape == ()
    assert_close(trace.result, F.cross_entropy(logits, torch.tensor(0)))
    assert "target = torch.tensor(0)" in trace.code


def test_float_class_indices_that_are_whole_are_accepted():
    assert_close(losses.cross_entropy(LOGITS, [0.0, 1.0]).result, F.cross_entropy(LOGITS, TARGET))


def test_integer_one_hot_targets_are_probabilities():
    one_hot = torch.tensor([[1, 0, 0], [0, 1, 0]])
    assert_close(losses.cross_entropy(LOGITS, one_hot).result, F.cross_entropy(LOGITS, TARGET))


def test_float64_is_kept_and_weights_follow():
    trace = losses.cross_entropy(LOGITS.double(), TARGET, weight=torch.tensor([1.0, 2.0, 3.0]))
    assert trace.result.dtype == torch.float64
    assert_close(
        trace.result,
        F.cross_entropy(LOGITS.double(), TARGET, weight=torch.tensor([1.0, 2.0, 3.0]).double()),
    )


def test_integer_logits_become_float32():
    assert losses.softmax([1, 2, 3]).result.dtype == torch.float32


def test_inputs_that_require_grad_are_fine():
    logits = LOGITS.clone().requires_grad_()
    trace = losses.cross_entropy(logits, TARGET)
    assert not trace.result.requires_grad


# --- warnings about the classic mistakes ------------------------------------------------------


def test_probabilities_given_to_nll_are_flagged():
    trace = losses.nll(F.softmax(LOGITS, 1), TARGET)
    assert (
        "input looks like probabilities, not log-probabilities: NLLLoss expects log_softmax output; "
        "the loss can go negative"
    ) in trace.warnings
    assert trace.result.item() < 0


def test_raw_logits_given_to_nll_are_flagged():
    trace = losses.nll(LOGITS, TARGET)
    assert any("positive values" in w and "cross-entropy" in w for w in trace.warnings)


def test_log_softmax_given_to_nll_is_not_flagged():
    assert losses.nll(F.log_softmax(LOGITS, 1), TARGET).warnings == []


def test_softmax_output_given_to_cross_entropy_is_flagged():
    trace = losses.cross_entropy(F.softmax(LOGITS, 1), TARGET)
    assert any("look like probabilities" in w for w in trace.warnings)


def test_kl_mean_repeats_pytorchs_warning():
    with pytest.warns(UserWarning, match="batchmean") as caught:
        F.kl_div(F.log_softmax(LOGITS, 1), F.softmax(LOGITS, 1), reduction="mean")
    pytorch_text = str(caught[0].message)
    assert KL_MEAN_WARNING.replace(" ", "") == pytorch_text.replace(" ", "")
    trace = losses.kl(F.log_softmax(LOGITS, 1), F.softmax(LOGITS, 1), reduction="mean")
    assert trace.warnings == [KL_MEAN_WARNING]


def test_kl_engine_itself_raises_no_python_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses.kl(F.log_softmax(LOGITS, 1), F.softmax(LOGITS, 1), reduction="mean")


def test_kl_with_probabilities_as_input_is_flagged():
    trace = losses.kl(F.softmax(LOGITS, 1), F.softmax(LOGITS, 1), reduction="batchmean")
    assert any("classic mistake" in w for w in trace.warnings)


def test_kl_with_rows_that_are_not_distributions_is_flagged():
    trace = losses.kl(
        torch.tensor([[-1.0, -1.0]]), torch.tensor([[0.5, 0.5]]), reduction="batchmean"
    )
    assert any("exp(input) should sum to 1" in w for w in trace.warnings)


def test_kl_with_log_target_forgotten_is_flagged():
    log_p = F.log_softmax(LOGITS, 1)
    trace = losses.kl(log_p, log_p, reduction="batchmean")
    assert any("log_target=True" in w for w in trace.warnings)


def test_entropy_normalises_with_a_warning():
    trace = losses.entropy(probs=[0.2, 0.2, 0.2])
    assert_close(trace.result, torch.tensor(math.log(3)))
    assert any("divided by its sum" in w for w in trace.warnings)


def test_entropy_within_tolerance_is_used_as_given():
    assert losses.entropy(probs=[0.3333, 0.3333, 0.3334]).warnings == []


def test_perplexity_all_ignored_is_nan_and_explained():
    trace = losses.perplexity(LOGITS, torch.tensor([-100, -100]))
    assert trace.result.isnan()
    assert trace.token_count == 0
    assert any("divides 0 by 0" in w for w in trace.warnings)


def test_perplexity_is_the_same_in_every_base():
    target = torch.tensor([2, 0])
    in_nats = losses.perplexity(LOGITS, target)
    in_bits = losses.perplexity(LOGITS, target, base="2")
    assert_close(in_bits.result, in_nats.result)
    assert_close(in_bits.mean_nll, in_nats.mean_nll / math.log(2))
    assert (in_nats.unit, in_bits.unit) == ("nats", "bits")
    assert "same in every base" in in_bits.step("perplexity").note


def test_perplexity_sampling_is_reproducible():
    logits = torch.randn(50, 4)
    target = torch.randint(0, 4, (50,))
    first = losses.perplexity(logits, target, sample_seed=11)
    second = losses.perplexity(logits, target, sample_seed=11)
    expected = torch.multinomial(
        torch.softmax(logits, -1), 1, generator=torch.Generator().manual_seed(11)
    ).squeeze(1)
    assert torch.equal(first.sampled, expected)
    assert torch.equal(second.sampled, expected)
    assert_close(first.sample_accuracy, (expected == target).float().mean())


def test_perplexity_sequence_with_only_ignored_tokens_is_nan_and_explained():
    trace = losses.perplexity(LOGITS, torch.tensor([0, -100]), sequence_ids=[1, 2])
    assert trace.per_sequence[0].isfinite()
    assert trace.per_sequence[1].isnan()
    assert trace.sequence_ids.tolist() == [1, 2]
    assert any("a sequence has every target equal to ignore_index" in w for w in trace.warnings)


# --- learner-facing errors --------------------------------------------------------------------


def test_target_out_of_range():
    error = error_of(losses.cross_entropy, torch.randn(3, 5), torch.tensor([0, 7, 1]))
    assert (
        error.message == "target 7 is out of range for 5 classes (valid: 0–4, or ignore_index -100)"
    )
    assert error.location == {"field": "target", "index": [1]}


def test_negative_target_that_is_not_ignore_index():
    error = error_of(losses.nll, torch.randn(2, 3), torch.tensor([0, -1]))
    assert (
        error.message
        == "target -1 is out of range for 3 classes (valid: 0–2, or ignore_index -100)"
    )


def test_weight_length_mismatch():
    error = error_of(losses.nll, torch.randn(2, 3), TARGET, weight=torch.ones(4))
    assert error.message == "input has 3 classes but weight has 4 values"
    assert error.location == {"field": "weight"}


def test_target_batch_mismatch():
    error = error_of(losses.nll, torch.randn(3, 5), torch.tensor([0, 1]))
    assert error.message == "target shape (2,) does not match input batch (3)"


def test_target_batch_mismatch_in_cross_entropy_mentions_probabilities():
    error = error_of(losses.cross_entropy, torch.randn(3, 5), torch.tensor([0, 1]))
    assert error.message.startswith("target shape (2,) does not match input batch (3)")
    assert "class probabilities of shape (3, 5)" in error.message


def test_spatial_target_mismatch_names_the_expected_shape():
    error = error_of(
        losses.cross_entropy, torch.randn(2, 3, 4), torch.zeros(2, 5, dtype=torch.long)
    )
    assert "class indices need shape (2, 4)" in error.message


@pytest.mark.parametrize(
    "function", [losses.nll, losses.cross_entropy, losses.binary_cross_entropy_with_logits]
)
def test_reduction_must_be_known(function):
    error = error_of(
        function,
        LOGITS,
        torch.ones_like(LOGITS) if function is losses.binary_cross_entropy_with_logits else TARGET,
        reduction="avg",
    )
    assert error.message == "reduction must be one of none, mean, sum"


def test_kl_reduction_names_batchmean():
    error = error_of(losses.kl, LOGITS, LOGITS, reduction="avg")
    assert error.message == "reduction must be one of none, mean, sum, batchmean"


def test_fractional_target():
    assert (
        error_of(losses.cross_entropy, LOGITS, [0, 1.5]).message
        == "target 1.5 is not a whole number"
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: losses.cross_entropy(LOGITS, TARGET, label_smoothing=1.5),
            "label_smoothing must be between 0 and 1 (got 1.5)",
        ),
        (
            lambda: losses.cross_entropy(LOGITS, TARGET, ignore_index=1.5),
            "ignore_index must be a whole number",
        ),
        (
            lambda: losses.softmax(LOGITS, dim=2),
            "dim 2 is out of range for logits with 2 dimensions (valid: -2 to 1)",
        ),
        (lambda: losses.softmax([]), "the logits are empty"),
        (
            lambda: losses.softmax(torch.tensor([1 + 1j])),
            "the logits hold complex numbers; losses need real numbers",
        ),
        (lambda: losses.softmax("abc"), "the logits must be numbers"),
        (lambda: losses.entropy(), "give exactly one of probs, counts or logits"),
        (
            lambda: losses.entropy(probs=[1.0], counts=[1.0]),
            "give exactly one of probs, counts or logits",
        ),
        (
            lambda: losses.entropy(probs=[0.5, 0.5], base=10),
            "base must be 'e' (nats) or '2' (bits)",
        ),
        (
            lambda: losses.entropy(probs=[0.5, -0.1, 0.6]),
            "probability -0.1 in the probs is negative (at [1])",
        ),
        (
            lambda: losses.entropy(probs=[[0.5, 0.5], [0.0, 0.0]]),
            "a row of probs sums to 0, so it is not a distribution (at [1])",
        ),
        (
            lambda: losses.entropy(counts=[0, 0]),
            "a row of counts sums to 0, so it is not a distribution",
        ),
        (
            lambda: losses.entropy(logits=[-INF, -INF]),
            "a row of logits has no finite maximum (all -inf, or a nan/+inf), so softmax is undefined there",
        ),
        (
            lambda: losses.nll(torch.tensor(1.0), 0),
            "the input needs a class dimension: C numbers for one example, or N rows of C numbers",
        ),
        (
            lambda: losses.kl(LOGITS, LOGITS[:, :2]),
            "target shape (2, 2) does not match input shape (2, 3)",
        ),
        (
            lambda: losses.binary_cross_entropy_with_logits(LOGITS, LOGITS[0]),
            "target shape (3,) does not match logits shape (2, 3)",
        ),
        (
            lambda: losses.binary_cross_entropy_with_logits(
                LOGITS, LOGITS, pos_weight=torch.ones(2)
            ),
            "pos_weight shape (2,) cannot be broadcast to the logits shape (2, 3)",
        ),
        (
            lambda: losses.perplexity(LOGITS[0], 0),
            "perplexity needs logits of shape (N, C), one row of scores per token; got shape (3,) (reshape a batch (B, T, C) to (B·T, C) and pass sequence_ids)",
        ),
        (
            lambda: losses.perplexity(LOGITS, TARGET, sequence_ids=[0]),
            "sequence_ids has shape (1,) but there are 2 tokens: give one sequence id per token",
        ),
        (
            lambda: losses.perplexity(LOGITS, TARGET, sequence_ids=[0, 0.5]),
            "sequence id 0.5 is not a whole number",
        ),
        (
            lambda: losses.perplexity(LOGITS, TARGET, sample_seed=-1),
            "sample_seed must be a whole number ≥ 0",
        ),
        (
            lambda: losses.perplexity(
                torch.tensor([[-INF, -INF], [0.0, 0.0]]), torch.tensor([-100, 0]), sample_seed=1
            ),
            "cannot sample from a row of the logits whose probabilities are nan (every logit -inf, or a nan/+inf) (at [0])",
        ),
    ],
)
def test_learner_facing_messages(call, message):
    with pytest.raises(LossInputError) as caught:
        call()
    assert caught.value.message == message
    assert "Traceback" not in message
    assert "RuntimeError" not in message


# --- results derived from the steps are bit for bit PyTorch's ---------------------------------
# cross-entropy, perplexity and KL compute their result from tensors they already hold (one
# log_softmax, the pointwise KL terms) in ATen's order of operations, instead of calling PyTorch a
# second time on a big input; these cases pin that down, bit for bit, including the awkward values.


def awkward_logits(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(shape, generator=generator) * 4
    z.view(-1)[1] = -INF  # an impossible class
    return z


CLASS_INDEX_CASES = [
    pytest.param((3,), {}, id="one-example"),
    pytest.param((4, 3), {}, id="rows"),
    pytest.param((4, 3), {"ignore_index": 2}, id="ignore-a-class"),
    pytest.param((4, 3, 2), {"weight": torch.tensor([1.0, 3.0, 0.5])}, id="spatial-weighted"),
    pytest.param((4, 3), {"label_smoothing": 0.1}, id="smoothing"),
    pytest.param(
        (4, 3, 2),
        {"label_smoothing": 0.3, "weight": torch.tensor([1.0, 3.0, 0.5]), "ignore_index": 0},
        id="smoothing-weighted-ignored",
    ),
    pytest.param((4, 3), {"label_smoothing": 1.0}, id="all-smoothing"),
    pytest.param((8, 1000), {"label_smoothing": 0.2}, id="wide"),
]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(("shape", "kwargs"), CLASS_INDEX_CASES)
def test_cross_entropy_with_class_indices_is_bit_for_bit_pytorchs(shape, kwargs, reduction):
    class_dim = 0 if len(shape) == 1 else 1
    target_shape = () if len(shape) == 1 else (shape[0], *shape[2:])
    target = torch.randint(0, shape[class_dim], target_shape, generator=torch.Generator())
    if "ignore_index" in kwargs and target.dim():
        target.view(-1)[0] = kwargs["ignore_index"]
    finite = torch.randn(shape, generator=torch.Generator().manual_seed(1)) * 4
    for z in (finite, awkward_logits(shape, seed=len(shape))):
        trace = losses.cross_entropy(z, target, reduction=reduction, **kwargs)
        assert same(trace.result, F.cross_entropy(z, target, reduction=reduction, **kwargs))
        assert_close(trace.step("loss").value, trace.result, equal_nan=True)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 5, 3), (8, 1000)])
def test_cross_entropy_with_class_probabilities_is_bit_for_bit_pytorchs(
    shape, weighted, label_smoothing, reduction
):
    class_dim = 0 if len(shape) == 1 else 1
    generator = torch.Generator().manual_seed(3)
    probabilities = F.softmax(torch.randn(shape, generator=generator), class_dim)
    weight = torch.linspace(0.5, 2.0, shape[class_dim]) if weighted else None
    kwargs = {"weight": weight, "reduction": reduction, "label_smoothing": label_smoothing}
    finite = torch.randn(shape, generator=generator) * 4
    for z in (finite, awkward_logits(shape, seed=7)):
        trace = losses.cross_entropy(z, probabilities, **kwargs)
        assert same(trace.result, F.cross_entropy(z, probabilities, **kwargs))
        assert_close(trace.step("loss").value, trace.result, equal_nan=True)


def test_cross_entropy_in_float64_is_bit_for_bit_pytorchs():
    z = awkward_logits((6, 4), seed=1).double()
    target = torch.tensor([0, 1, 2, 3, -100, 1])
    for kwargs in ({}, {"label_smoothing": 0.2, "weight": torch.tensor([1.0, 2.0, 1.0, 0.5])}):
        trace = losses.cross_entropy(z, target, **kwargs)
        expected = F.cross_entropy(z, target, **{**kwargs, "weight": _double(kwargs)})
        assert same(trace.result, expected)


def _double(kwargs):
    weight = kwargs.get("weight")
    return None if weight is None else weight.double()


def test_cross_entropy_refuses_ignore_index_with_probability_targets_as_pytorch_does():
    probabilities = F.softmax(LOGITS, 1)
    error = error_of(losses.cross_entropy, LOGITS, probabilities, ignore_index=0)
    assert error.message == (
        "ignore_index 0 cannot be used with class probabilities as the target: PyTorch supports "
        "ignore_index only for class indices (leave it at -100)"
    )
    assert error.location == {"field": "ignore_index"}
    with pytest.raises(RuntimeError):
        F.cross_entropy(LOGITS, probabilities, ignore_index=0)
    # a negative one is accepted (and ignored) by PyTorch, so it is here too, with a warning
    trace = losses.cross_entropy(LOGITS, probabilities, ignore_index=-1)
    assert same(trace.result, F.cross_entropy(LOGITS, probabilities, ignore_index=-1))
    assert any("ignore_index has no effect" in w for w in trace.warnings)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5), (8, 1000)])
def test_kl_is_bit_for_bit_pytorchs(shape, log_target, reduction):
    generator = torch.Generator().manual_seed(5)
    log_q = F.log_softmax(torch.randn(shape, generator=generator) * 3, -1)
    p = F.softmax(torch.randn(shape, generator=generator) * 3, -1)
    p = torch.where(p < 0.02, torch.zeros_like(p), p)  # 0 log 0 terms
    target = p.log() if log_target else p
    trace = losses.kl(log_q, target, reduction=reduction, log_target=log_target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = F.kl_div(log_q, target, reduction=reduction, log_target=log_target)
    assert same(trace.result, expected)
    assert_close(trace.step("loss").value, trace.result, equal_nan=True)  # e^-inf · -inf is nan


def test_perplexity_is_bit_for_bit_pytorchs():
    z = awkward_logits((6, 50), seed=2)
    target = torch.tensor([3, 1, 0, -100, 49, 7])
    trace = losses.perplexity(z, target, sequence_ids=[0, 0, 1, 1, 2, 2])
    assert same(trace.step("token_nll").value, F.cross_entropy(z, target, reduction="none"))
    assert same(trace.mean_nll, F.cross_entropy(z, target))
    assert same(trace.result, F.cross_entropy(z, target).exp())


# --- warning checks read the data once, but still see everything ------------------------------
# The checks look elementwise only when a reduction cannot decide (a nan hides the range, an -inf
# hides the smallest finite value); these cases sit exactly there.


def test_softmax_sees_a_plus_inf_behind_a_nan():
    trace = losses.softmax(torch.tensor([[1.0, INF, 0.0], [math.nan, 2.0, 3.0]]))
    assert any("contain nan" in w for w in trace.warnings)
    assert any("a logit is +inf" in w for w in trace.warnings)


def test_softmax_sees_a_row_of_minus_inf_behind_a_nan():
    trace = losses.softmax(torch.tensor([[-INF, -INF], [math.nan, 2.0]]))
    assert any("every logit -inf" in w and "(at [0])" in w for w in trace.warnings)


def test_softmax_of_ordinary_logits_has_no_warnings():
    assert losses.softmax(torch.randn(64, 1000)).warnings == []


def test_log_probabilities_with_minus_inf_given_to_nll_are_not_flagged():
    log_probs = F.log_softmax(torch.tensor([[2.0, -INF, 0.1], [1.0, 2.5, 0.5]]), 1)
    assert losses.nll(log_probs, TARGET).warnings == []


def test_probabilities_with_an_inf_given_to_nll_are_flagged_from_the_finite_values():
    trace = losses.nll(torch.tensor([[0.5, 0.5, INF], [0.2, 0.3, 0.5]]), TARGET)
    assert any("looks like probabilities" in w for w in trace.warnings)
    trace = losses.nll(torch.tensor([[0.5, -INF, 3.0], [0.2, 0.3, 0.5]]), TARGET)
    assert any("has positive values" in w for w in trace.warnings)


def test_softmax_output_with_a_nan_given_to_cross_entropy_warns_only_about_the_nan():
    probabilities = F.softmax(torch.randn(4, 5), 1)
    probabilities[2, 3] = math.nan
    trace = losses.cross_entropy(probabilities, torch.tensor([0, 1, 2, 3]))
    assert trace.warnings == [
        "an example's log-probabilities are nan: its logits hold +inf or nan, or are all -inf "
        "(at [2])",
        "the logits contain nan, so the loss is nan",
    ]


def test_cross_entropy_sees_a_nan_in_a_row_that_also_holds_inf():
    z = torch.tensor([[INF, math.nan, 0.0], [1.0, 2.0, 3.0]])
    trace = losses.cross_entropy(z, torch.tensor([-100, 0]))
    assert "the logits contain nan, so the loss is nan" in trace.warnings


def test_kl_without_reduction_still_finds_nan_terms():
    log_q = torch.tensor([[-INF, 0.0], [-0.5, -1.0]])
    trace = losses.kl(log_q, torch.tensor([[0.0, 1.0], [0.5, 0.5]]), reduction="none")
    assert any("some terms are nan" in w for w in trace.warnings)
    assert trace.result[0, 0].isnan()


def test_kl_with_a_nan_total_but_no_nan_term_does_not_warn():
    log_q = torch.tensor([[-INF, INF], [-0.7, -0.7]])  # terms +inf and -inf: their sum is nan
    p = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    trace = losses.kl(log_q, p, reduction="sum")
    assert not trace.step("pointwise").value.isnan().any()
    assert not any("some terms are nan" in w for w in trace.warnings)
    assert same(trace.result, F.kl_div(log_q, p, reduction="sum"))
