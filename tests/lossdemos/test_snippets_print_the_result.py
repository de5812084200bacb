"""Every op's snippet, executed, prints the answer's result to the precision the page shows it
(four decimals, as PyTorch prints) — in nats and in bits, float32 and float64, after training too."""

import os

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lossdemos import operations
from lossdemos.presenters import format_number

EXAMPLES = int(os.environ.get("KB_PROPERTY_EXAMPLES", "60"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def printed_by(code: str) -> torch.Tensor:
    printed = []
    exec(code, {"print": printed.append})  # the engine's own snippet
    return torch.as_tensor(printed[-1])


def shown(values: torch.Tensor) -> list[str]:
    return [format_number(v) for v in values.detach().double().flatten().tolist()]


@st.composite
def case(draw):
    op = draw(
        st.sampled_from(
            [
                "softmax",
                "log-softmax",
                "entropy",
                "nll",
                "cross-entropy",
                "kl",
                "perplexity",
                "bce-with-logits",
                "train",
            ]
        )
    )
    rows = draw(st.integers(1, 4))
    classes = draw(st.integers(2, 5))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    z = torch.randn(rows, classes, generator=generator, dtype=dtype) * 3
    index = torch.randint(0, classes, (rows,), generator=generator)
    p = torch.softmax(torch.randn(rows, classes, generator=generator, dtype=dtype), 1)
    base = draw(st.sampled_from(["e", "2"]))
    reduction = draw(st.sampled_from(["none", "mean", "sum"]))
    values, tensors = {}, {}
    if op in ("softmax", "log-softmax"):
        tensors = {"logits": z}
    elif op == "entropy":
        source = draw(st.sampled_from(["probs", "counts", "logits"]))
        tensors = {source: {"probs": p, "counts": (p * 10).round() + 1, "logits": z}[source]}
        values = {"base": base}
    elif op == "nll":
        tensors = {"input": torch.log_softmax(z, 1), "target": index}
        values = {"base": base, "reduction": reduction}
    elif op == "cross-entropy":
        target = p if draw(st.booleans()) else index
        tensors = {"logits": z, "target": target}
        values = {
            "base": base,
            "reduction": reduction,
            "label_smoothing": draw(st.sampled_from([0.0, 0.1])),
        }
    elif op == "kl":
        tensors = {"input": torch.log_softmax(z, 1), "target": p}
        values = {"base": base, "reduction": draw(st.sampled_from(["none", "sum", "batchmean"]))}
    elif op == "perplexity":
        tensors = {"logits": z, "target": index}
        values = {"base": base}
    elif op == "bce-with-logits":
        tensors = {"logits": z, "target": p}
        values = {"base": base, "reduction": reduction}
    else:
        tensors = {"logits": z, "target": index}
        values = {"steps": draw(st.integers(1, 30)), "learning_rate": 0.5}
    return op, values, tensors


@SETTINGS
@given(case())
def test_the_snippet_prints_the_result_as_shown(case):
    op, values, tensors = case
    computation = operations.compute(op, values, tensors=tensors)
    result = computation.trace.result
    if op == "train":
        result = result[-1]  # the snippet prints the loss after the last step

    printed = printed_by(computation.trace.code)

    assert shown(printed) == shown(result)
    assert printed.dtype == result.dtype
