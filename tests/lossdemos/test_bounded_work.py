"""Bounded work for every loss request (issue 10): a deep tensor is refused before it costs anything.

A 54-deep one-number ``logits`` once cost 52 s of CPU and a 64-deep one never finished (the snippet
formatter made each child's text twice per level). Now every reader counts dimensions first:
more than MAX_DIMENSIONS is a sentence — 422 from the API, a form error on the page — in well under a
second, whichever way the tensor comes (JSON, a pasted ``tensor(...)`` in the page's URL, an ``.npy``).
The one-second bound is the issue's "done when"; the work it replaces took minutes.
"""

import io
import json
import time

import numpy as np
import pytest
import torch
from django.test import Client

from lossdemos.limits import MAX_DIMENSIONS
from lossdemos.losses import snippets
from tests.support.pages import visible_text

pytestmark = pytest.mark.django_db

DEPTH = 64
SECOND = 1.0


def nested(depth: int, value: float = 1.0):
    for _ in range(depth):
        value = [value]
    return value


def pasted(depth: int) -> str:
    """What PyTorch prints for a one-number tensor of this many dimensions."""
    return "tensor(" + "[" * depth + "1.0000" + "]" * depth + ")"


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npy_with_header(shape, data: bytes, descr: str = "<f4") -> bytes:
    """An .npy file whose header says ``shape`` whatever the data: numpy's writer checks nothing."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue() + data


def upload(data: bytes, name: str = "logits.npy") -> io.BytesIO:
    buffer = io.BytesIO(data)
    buffer.name = name
    return buffer


@pytest.fixture
def client(user):
    return Client()


def timed(function):
    start = time.perf_counter()
    response = function()
    return response, time.perf_counter() - start


def test_a_64_deep_json_tensor_is_refused_with_422_in_under_a_second(client):
    body = json.dumps({"logits": nested(DEPTH)})

    response, seconds = timed(
        lambda: client.post("/api/losses/softmax", body, content_type="application/json")
    )

    assert response.status_code == 422
    assert response.json()["error"] == (
        f"the logits have {DEPTH} dimensions; at most {MAX_DIMENSIONS} are accepted"
    )
    assert response.json()["field"] == "logits"
    assert seconds < SECOND


def test_a_64_deep_pasted_tensor_in_the_api_is_refused_too(client):
    body = json.dumps({"logits": pasted(DEPTH), "target": "[0]"})

    response, seconds = timed(
        lambda: client.post("/api/losses/cross-entropy", body, content_type="application/json")
    )

    assert response.status_code == 422
    assert "64 dimensions" in response.json()["error"]
    assert seconds < SECOND


def test_a_64_deep_pasted_tensor_in_the_page_url_is_a_form_error_in_under_a_second(client):
    response, seconds = timed(
        lambda: client.get("/losses/softmax/", {"logits": pasted(DEPTH), "dim": "-1"})
    )

    assert response.status_code == 200
    assert (
        f"the logits have {DEPTH} dimensions; at most {MAX_DIMENSIONS} are accepted"
        in visible_text(response)
    )
    assert seconds < SECOND


def test_a_64_deep_tensor_in_the_live_fragment_is_a_form_error(client):
    response = client.get(
        "/losses/cross-entropy/",
        {"logits": pasted(DEPTH), "target": "0", "fragment": "results"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    assert response.status_code == 200
    assert "logits 有 64 个维度；最多接受 8 个" in visible_text(response)


def test_a_64_deep_tensor_on_the_mistakes_page_is_a_form_error(client):
    mistake = "softmax-before-ce"
    query = {"mistake": mistake, "fragment": "mistake"}
    query |= {f"{mistake}-logits": pasted(DEPTH), f"{mistake}-target": "0"}

    response, seconds = timed(lambda: client.get("/losses/mistakes/", query))

    assert response.status_code == 200
    assert "the logits have 64 dimensions" in visible_text(response)
    assert seconds < SECOND


def test_a_64_dimension_npy_upload_to_the_api_is_refused_in_under_a_second(client):
    data = npy_bytes(np.ones((1,) * DEPTH, dtype=np.float32))

    response, seconds = timed(lambda: client.post("/api/losses/softmax", {"logits": upload(data)}))

    assert response.status_code == 422
    assert response.json()["error"] == (
        f"the logits have {DEPTH} dimensions; at most {MAX_DIMENSIONS} are accepted"
    )
    assert seconds < SECOND


def test_a_64_dimension_npy_upload_on_the_page_is_a_form_error(client):
    data = npy_bytes(np.ones((1,) * DEPTH, dtype=np.float32))

    response, seconds = timed(
        lambda: client.post(
            "/losses/softmax/", {"upload-logits_file": upload(data), "upload-dim": "-1"}
        )
    )

    assert response.status_code == 200
    assert "the logits have 64 dimensions" in visible_text(response)
    assert seconds < SECOND


def test_eight_dimensions_still_compute(client):
    body = json.dumps({"logits": nested(MAX_DIMENSIONS, 2.0)})

    response = client.post("/api/losses/softmax", body, content_type="application/json")

    assert response.status_code == 200
    assert response.json()["result"] == nested(MAX_DIMENSIONS, 1.0)


def test_nine_dimensions_are_refused_by_every_reader(client):
    nine = MAX_DIMENSIONS + 1
    as_json = json.dumps({"logits": nested(nine)})
    as_text = json.dumps({"logits": pasted(nine)})
    as_npy = {"logits": upload(npy_bytes(np.ones((1,) * nine, dtype=np.float32)))}

    answers = [
        client.post("/api/losses/softmax", as_json, content_type="application/json"),
        client.post("/api/losses/softmax", as_text, content_type="application/json"),
        client.post("/api/losses/softmax", as_npy),
    ]

    assert [a.status_code for a in answers] == [422, 422, 422]
    assert {a.json()["error"] for a in answers} == {
        "the logits have 9 dimensions; at most 8 are accepted"
    }


def test_a_deep_ragged_json_list_is_refused_quickly(client):
    # shallow first item, a deep one after it: ragged, named as such, never walked to the bottom
    body = json.dumps({"logits": [[1.0], nested(DEPTH)]})

    response, seconds = timed(
        lambda: client.post("/api/losses/softmax", body, content_type="application/json")
    )

    assert response.status_code == 422
    assert "not nested like the other numbers" in response.json()["error"]
    assert seconds < SECOND


def test_the_snippet_of_a_deep_tensor_is_written_in_linear_time():
    # the formatter itself, below the readers' cap: each level's text is made once (was 2^depth)
    logits = torch.ones((1,) * 60)

    code, seconds = timed(lambda: snippets.snippet([("logits", logits)], []))

    assert "logits = torch.tensor(" + "[\n    " * 26 in code
    assert code.count("1.0") == 1
    assert seconds < SECOND


# --- .npy headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            npy_with_header((-5,), np.ones(4, dtype=np.float32).tobytes()),
            "the logits file is not a valid .npy file: its header gives the shape (-5,), with a "
            "negative size",
        ),
        (
            npy_with_header((-1, -1), np.ones(1, dtype=np.float32).tobytes()),
            "the shape (-1, -1), with a negative size",
        ),
        (
            npy_with_header((1,) * 65, np.ones(1, dtype=np.float32).tobytes()),
            "the logits have 65 dimensions; at most 8 are accepted",
        ),
        (
            npy_with_header((2**31, 2**31), b""),
            "too many numbers",
        ),
        (
            npy_with_header((3,), np.ones(5, dtype=np.float32).tobytes()),
            "the logits file does not match its header: shape (3,) needs 12 bytes of data but "
            "20 follow",
        ),
        (
            npy_with_header((5,), np.ones(3, dtype=np.float32).tobytes()),
            "the logits file is truncated",
        ),
    ],
    ids=["negative", "two-negatives", "65-dimensions", "too-many", "longer", "truncated"],
)
def test_every_npy_header_is_checked_before_the_data(client, data, words):
    response = client.post("/api/losses/softmax", {"logits": upload(data)})
    page = client.post("/losses/softmax/", {"upload-logits_file": upload(data)})

    assert response.status_code in (413, 422)
    assert words in response.json()["error"]
    assert page.status_code == 200
    assert words in visible_text(page)


def test_an_npy_header_refusal_is_translated(client):
    data = npy_with_header((-5,), np.ones(4, dtype=np.float32).tobytes())

    response = client.post(
        "/api/losses/softmax", {"logits": upload(data)}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )

    assert response.status_code == 422
    assert "(-5,)" in response.json()["error"]
    assert "负" in response.json()["error"]
