"""Every loss endpoint driven with malformed and extreme input answers 2xx or 4xx — never a 5xx.

Two sources: schemathesis generates bodies from the published OpenAPI schema (what a client reading the
docs might send), and hypothesis sends what nobody should: ragged and deeply nested lists, NaN,
huge numbers, wrong types, empty lists, unknown fields, and the forms' text fields.
"""

import io
import json
import math
import time

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.wsgi import application
from lossdemos.api import _OP_OF
from lossdemos.limits import MAX_DIMENSIONS
from lossdemos.views import CONCEPTS

OPS = {op: body for body, op in _OP_OF.items()}
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# The schema is read from the running app itself (no database: /api/ needs no account).
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)


@pytest.mark.django_db
@schema.include(path_regex=r"^/api/losses/").parametrize()
@FUZZ
def test_schema_generated_bodies_never_crash_the_server(case):
    response = case.call()

    assert response.status_code < 500, response.text
    if response.status_code == 405:  # schemathesis also tries other methods; ninja answers in text
        return
    answer = response.json()
    if response.status_code >= 400:
        assert isinstance(answer["error"], str)
        assert answer["error"]
    else:
        assert {"result", "steps", "code", "warnings"} <= set(answer)


# --- hand-made nastiness ---------------------------------------------------------------------------

scalars = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.booleans(),
    st.none(),
    st.text(max_size=6),
    st.sampled_from(["NaN", "-Infinity", "1e999", "tensor([1., 2.])", "[[1, 2], [3]]", "", "0"]),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
nested = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5), max_leaves=40)
rectangular = st.integers(1, 5).flatmap(
    lambda width: st.lists(
        st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=width, max_size=width),
        min_size=1,
        max_size=5,
    )
)
class_indices = st.lists(st.integers(min_value=-200, max_value=10), min_size=1, max_size=6)
any_value = st.one_of(nested, rectangular, class_indices, scalars)


def bodies(op: str):
    fields = list(OPS[op].model_fields)
    known = st.fixed_dictionaries({}, optional=dict.fromkeys(fields, any_value))
    extra = st.dictionaries(st.text(max_size=8), any_value, max_size=3)
    return st.one_of(known, st.builds(lambda a, b: {**a, **b}, known, extra), nested)


def post(client, op, body):
    payload = json.dumps(body, allow_nan=True)  # NaN/Infinity literals too: json.loads reads them
    return client.post(f"/api/losses/{op}", data=payload, content_type="application/json")


def assert_answer_is_sane(response):
    assert response.status_code < 500
    answer = json.loads(response.content, parse_constant=_refuse_constant)
    if response.status_code >= 400:
        assert answer["error"]
    else:
        assert {"result", "steps", "code", "warnings"} <= set(answer)


def _refuse_constant(name):
    raise AssertionError(f"the answer contains a bare {name}, which is not JSON")


@pytest.mark.django_db
@pytest.mark.parametrize("op", list(OPS))
def test_random_bodies_answer_2xx_or_4xx(client, op):
    @given(body=bodies(op))
    @FUZZ
    def check(body):
        assert_answer_is_sane(post(client, op, body))

    check()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"logits": json.loads("[" * 500 + "]" * 500)},
        {"logits": json.loads("[" * 70 + "1" + "]" * 70)},
        {"logits": [[]]},
        {"logits": [1e308, -1e308, math.inf]},
        {"logits": [1, 2], "dim": 10**30},
        {"logits": [1, 2], "dim": 5},
        {"logits": "tensor(" * 200},
    ],
    ids=["500-deep", "70-deep", "empty-row", "extremes", "huge-dim", "dim-out-of-range", "junk"],
)
def test_extreme_softmax_bodies(client, body):
    assert_answer_is_sane(post(client, "softmax", body))


@pytest.mark.django_db
def test_a_body_nested_too_deep_for_json_is_422(client):
    response = client.post(
        "/api/losses/softmax",
        data='{"logits": ' + "[" * 100_000 + "]" * 100_000 + "}",
        content_type="application/json",
    )

    assert response.status_code == 422


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("op", "body"),
    [
        ("cross-entropy", {"logits": [[1, 2, 3]], "target": [[0.2, 0.8]]}),
        ("cross-entropy", {"logits": [[1, 2]], "target": [5]}),
        ("cross-entropy", {"logits": [[1, 2]], "target": [0], "weight": [1, 2, 3]}),
        ("cross-entropy", {"logits": [[1, 2]], "target": [0], "label_smoothing": 2}),
        ("nll", {"input": [[-1, -2]], "target": [0, 1]}),
        ("kl", {"input": [[-1, -2]], "target": [[0.5, 0.5, 0]]}),
        ("perplexity", {"logits": [[1, 2]], "target": [0], "sequence_ids": [0, 1]}),
        ("perplexity", {"logits": [1, 2], "target": [0]}),
        ("entropy", {"probs": [0.5, 0.5], "counts": [1, 1]}),
        ("entropy", {"counts": [-1, 2]}),
        ("bce-with-logits", {"logits": [1, 2], "target": [1]}),
    ],
)
def test_mismatched_shapes_answer_422(client, op, body):
    response = post(client, op, body)

    assert response.status_code == 422
    assert response.json()["error"]


@pytest.mark.django_db
def test_random_form_text_never_breaks_a_page(client, user):
    @given(
        slug=st.sampled_from(list(CONCEPTS)),
        text=st.text(
            alphabet=st.sampled_from("0123456789.,;-e[]()nafitensor \n\t，【】"), max_size=40
        ),
        target=st.text(alphabet=st.sampled_from("0123456789-., []"), max_size=12),
    )
    @FUZZ
    def check(slug, text, target):
        query = {"logits": text, "input": text, "numbers": text, "target": target}
        response = client.get(f"/losses/{slug}/", {**query, "fragment": "results"})
        assert response.status_code == 200

    check()


# --- bounded work: any depth, any way in ---------------------------------------------------------

# The bound for a refusal; each of these takes milliseconds (a 54-deep one took 52 s).
RESPONSE_SECONDS = 2.0
shapes = st.lists(st.integers(1, 2), max_size=80).map(
    lambda sizes: [size if i < 10 else 1 for i, size in enumerate(sizes)]  # at most 1,024 numbers
)


def npy_upload(array) -> io.BytesIO:
    buffer = io.BytesIO()
    np.save(buffer, array)
    buffer.seek(0)
    buffer.name = "logits.npy"
    return buffer


@pytest.mark.django_db
def test_tensors_of_any_depth_are_answered_quickly_and_refused_past_the_limit(client, user):
    @given(shape=shapes, way=st.sampled_from(["json", "text", "npy", "page"]))
    @FUZZ
    def check(shape, way):
        logits = (np.arange(math.prod(shape), dtype=np.float32) / 3).reshape(shape)
        start = time.perf_counter()
        if way == "json":
            response = post(client, "softmax", {"logits": logits.tolist()})
        elif way == "text":
            response = post(client, "softmax", {"logits": json.dumps(logits.tolist())})
        elif way == "npy":
            response = client.post("/api/losses/softmax", {"logits": npy_upload(logits)})
        else:
            text = "tensor(" + json.dumps(logits.tolist()) + ")"
            response = client.get("/losses/softmax/", {"logits": text, "fragment": "results"})
        seconds = time.perf_counter() - start

        assert seconds < RESPONSE_SECONDS
        too_deep = f"the logits have {len(shape)} dimensions; at most {MAX_DIMENSIONS} are accepted"
        if way == "page":
            assert response.status_code == 200
            assert (too_deep in response.content.decode()) == (len(shape) > MAX_DIMENSIONS)
            return
        assert_answer_is_sane(response)
        if len(shape) > MAX_DIMENSIONS:
            assert response.status_code == 422
            assert response.json()["error"] == too_deep
        else:
            assert response.status_code == 200

    check()
