"""POST /api/losses/<op> (ARCHITECTURE §6): PyTorch's numbers, the answer's shape, errors that say where."""

import io
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from django.test import Client

from tests.support.pages import post_loss as post

pytestmark = pytest.mark.django_db


def npy_file(array, name="logits.npy"):
    buffer = io.BytesIO()
    np.save(buffer, array)
    buffer.seek(0)
    buffer.name = name
    return buffer


def test_softmax_of_2_1_point1_is_the_textbook_row(client):
    response = post(client, "softmax", {"logits": [2, 1, 0.1]})

    assert response.status_code == 200
    assert response.json()["result"] == pytest.approx([0.6590, 0.2424, 0.0986], abs=5e-5)


def test_cross_entropy_per_element_matches_the_table(client):
    body = {"logits": [[2, 1, 0.1], [1, 2.5, 0.5]], "target": [0, 1], "reduction": "none"}

    answer = post(client, "cross-entropy", body).json()

    assert answer["result"] == pytest.approx([0.4170, 0.3064], abs=5e-5)
    expected = F.cross_entropy(
        torch.tensor(body["logits"]), torch.tensor(body["target"]), reduction="none"
    )
    assert answer["result"] == pytest.approx(expected.tolist(), rel=0, abs=0)


def test_entropy_of_three_equal_counts_is_1_585_bits(client):
    answer = post(client, "entropy", {"counts": [1, 1, 1], "base": "2"}).json()

    assert answer["result"] == pytest.approx(1.5850, abs=5e-5)
    assert answer["result"] == pytest.approx(math.log2(3), rel=1e-6)


BODIES = {
    "softmax": {"logits": [[2, 1, 0.1], [1, 2.5, 0.5]], "dim": 1},
    "entropy": {"probs": [[0.5, 0.5], [0.9, 0.1]]},
    "nll": {"input": [[-0.1, -2.4], [-1.5, -0.25]], "target": [0, 1], "weight": [1, 2]},
    "cross-entropy": {
        "logits": [[2, 1, 0.1], [1, 2.5, 0.5]],
        "target": [[0.9, 0.1, 0], [0, 1, 0]],
        "label_smoothing": 0.1,
    },
    "kl": {"input": [[-0.5, -1.0]], "target": [[0.6, 0.4]], "reduction": "batchmean"},
    "perplexity": {"logits": [[1, 2, 0], [2, 1, 0], [0, 0, 3]], "target": [1, 0, 2]},
    "bce-with-logits": {"logits": [0.5, -1.0, 2.0], "target": [1, 0, 1]},
}


@pytest.mark.parametrize("op", list(BODIES))
def test_every_op_answers_result_steps_code_and_warnings(client, op):
    answer = post(client, op, BODIES[op]).json()

    assert {"result", "steps", "code", "warnings"} <= set(answer)
    assert answer["steps"], "every op shows its working"
    for step in answer["steps"]:
        assert {"name", "shape", "value"} <= set(step)
        assert isinstance(step["shape"], list)
    assert "import torch" in answer["code"]
    assert isinstance(answer["warnings"], list)


def test_the_snippet_reproduces_the_result_when_run(client):
    answer = post(client, "cross-entropy", BODIES["cross-entropy"]).json()
    printed = io.StringIO()
    namespace = {"print": lambda *args: printed.write(" ".join(map(str, args)))}

    exec(answer["code"], namespace)  # the snippet the page offers to copy

    assert f"{answer['result']:.4f}" in printed.getvalue()


def test_perplexity_gives_corpus_per_sequence_and_mean_nll(client):
    logits = torch.tensor([[2.0, 0.5, 0.1], [0.2, 1.5, 0.3], [0.1, 0.2, 2.2], [1.0, 1.0, 1.0]])
    target = torch.tensor([0, 1, 2, 1])
    body = {"logits": logits.tolist(), "target": target.tolist(), "sequence_ids": [0, 0, 0, 1]}

    answer = post(client, "perplexity", body).json()

    token_nll = F.cross_entropy(logits, target, reduction="none")
    assert answer["result"] == pytest.approx(math.exp(token_nll.mean().item()), rel=1e-6)
    assert answer["mean_nll"] == pytest.approx(token_nll.mean().item(), rel=1e-6)
    assert answer["per_sequence"] == pytest.approx(
        [math.exp(token_nll[:3].mean().item()), math.exp(token_nll[3].item())], rel=1e-6
    )


def test_perplexity_without_sequence_ids_is_one_sequence(client):
    answer = post(client, "perplexity", BODIES["perplexity"]).json()

    assert answer["per_sequence"] == pytest.approx([answer["result"]])


def test_kl_mean_warns_like_pytorch_and_batchmean_does_not(client):
    body = {"input": [[-0.5108, -0.9163]], "target": [[0.6, 0.4]]}

    mean = post(client, "kl", {**body, "reduction": "mean"}).json()
    batchmean = post(client, "kl", {**body, "reduction": "batchmean"}).json()

    assert any("batchmean" in warning for warning in mean["warnings"])
    assert not any("batchmean" in warning for warning in batchmean["warnings"])
    assert batchmean["result"] == pytest.approx(2 * mean["result"], rel=1e-6)


def test_bits_divide_the_loss_by_ln_2(client):
    nats = post(client, "cross-entropy", BODIES["cross-entropy"]).json()["result"]
    bits = post(client, "cross-entropy", {**BODIES["cross-entropy"], "base": "2"}).json()

    assert bits["result"] == pytest.approx(nats / math.log(2), rel=1e-6)
    assert bits["steps"][-1]["name"] == "in_bits"


def test_nan_and_infinity_are_written_as_strings_and_read_back(client):
    # every target ignored: PyTorch's mean is 0/0 = NaN
    ignored = post(client, "cross-entropy", {"logits": [[1, 2]], "target": [-100]})
    underflow = post(client, "softmax", {"logits": [0, "-Infinity"]})

    assert ignored.status_code == 200
    assert ignored.json()["result"] == "NaN"
    json.loads(ignored.content)  # strict JSON: no bare NaN
    assert underflow.json()["result"] == [1.0, 0.0]
    log_softmax = next(s for s in underflow.json()["steps"] if s["name"] == "log_softmax")
    assert log_softmax["value"] == [0.0, "-Infinity"]


def test_ragged_rows_answer_422_naming_the_row(client):
    response = post(client, "cross-entropy", {"logits": [[1, 2, 3], [1, 2]], "target": [0, 1]})

    assert response.status_code == 422
    assert response.json()["error"] == "row 2 has 2 values, the others have 3"
    assert response.json()["location"] == {"field": "logits", "row": 2}


def test_a_target_out_of_range_answers_422_with_the_engines_sentence(client):
    response = post(client, "cross-entropy", {"logits": [[1, 2, 3]], "target": [7]})

    assert response.status_code == 422
    assert "7" in response.json()["error"]
    assert response.json()["field"] == "target"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        ("[1, 2", "application/json", 422, "not valid JSON"),
        ("[1, 2]", "application/json", 422, "JSON object"),
        ('{"logits": [1, 2], "reductoin": "sum"}', "application/json", 422, "unknown field"),
        ('{"logits": "abc"}', "application/json", 422, "'abc' is not a number"),
        ('{"logits": [null, 1]}', "application/json", 422, "not a number"),
        ('{"logits": []}', "application/json", 422, "empty"),
        ('{"logits": [1, 2], "dim": "x"}', "application/json", 422, "dim"),
        ("logits=1", "text/plain", 415, "send JSON"),
    ],
)
def test_malformed_bodies_answer_4xx_with_a_sentence(client, body, content_type, status, words):
    response = client.post("/api/losses/softmax", data=body, content_type=content_type)

    assert response.status_code == status
    assert words in response.json()["error"]


def test_more_than_a_million_json_numbers_answers_413(client):
    response = post(client, "softmax", {"logits": [0.5] * 1_000_001})

    assert response.status_code == 413
    assert "1,000,000" in response.json()["error"]


def test_the_million_limit_counts_every_field_of_the_body(client):
    body = {"logits": [[0.0, 1.0]] * 300_000, "target": [1] * 300_000, "weight": [1.0, 1.0]}
    assert post(client, "cross-entropy", body).status_code == 200

    body = {"input": [[0.0] * 2] * 400_000, "target": [[0.5] * 2] * 400_000}
    response = post(client, "kl", body)
    assert response.status_code == 413


def test_big_steps_are_summarised_not_listed(client):
    logits = torch.randn(200, 100)

    answer = post(client, "cross-entropy", {"logits": logits.tolist(), "target": [3] * 200}).json()

    log_softmax = next(s for s in answer["steps"] if s["name"] == "log_softmax")
    assert log_softmax["value"] is None
    assert log_softmax["omitted"] is True
    assert log_softmax["shape"] == [200, 100]
    assert log_softmax["summary"]["count"] == 20_000
    expected = F.cross_entropy(logits, torch.full((200,), 3))
    assert answer["result"] == pytest.approx(expected.item(), rel=1e-6)


def test_npy_upload_gives_the_same_numbers_as_json(client):
    logits = np.array([[2, 1, 0.1], [1, 2.5, 0.5]], dtype=np.float32)

    response = client.post(
        "/api/losses/cross-entropy",
        {"logits": npy_file(logits), "target": "[0, 1]", "reduction": "none"},
    )

    assert response.status_code == 200
    assert response.json()["result"] == pytest.approx([0.4170, 0.3064], abs=5e-5)


def test_npy_upload_of_a_large_float32_array(client):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((64, 5000), dtype=np.float32)
    target = rng.integers(0, 5000, 64)

    response = client.post(
        "/api/losses/perplexity",
        {"logits": npy_file(logits), "target": npy_file(target, "target.npy")},
    )

    assert response.status_code == 200
    expected = torch.exp(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(target)))
    assert response.json()["result"] == pytest.approx(expected.item(), rel=1e-5)


def test_a_result_too_big_to_send_answers_413_with_what_to_do(client):
    logits = np.zeros((2_001, 1_000), dtype=np.float32)

    response = client.post("/api/losses/softmax", {"logits": npy_file(logits)})

    assert response.status_code == 413
    assert "reduction" in response.json()["error"]


def test_npy_with_python_objects_is_refused_without_unpickling(client):
    objects = np.array([{"a": 1}, None], dtype=object)
    buffer = io.BytesIO()
    np.save(buffer, objects, allow_pickle=True)
    buffer.seek(0)
    buffer.name = "logits.npy"

    response = client.post("/api/losses/softmax", {"logits": buffer})

    assert response.status_code == 422
    assert "pickle" in response.json()["error"]


def test_npy_upload_for_a_field_that_takes_no_file_is_refused(client):
    response = client.post(
        "/api/losses/softmax", {"logits": npy_file(np.ones(3)), "dim": npy_file(np.ones(1))}
    )

    assert response.status_code == 422
    assert "dim" in response.json()["error"]


def test_a_browser_post_needs_no_csrf_token(user):
    # pure computation: no cookie is read and nothing changes, so no CSRF token is asked for
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    response = post(browser, "softmax", {"logits": [1, 2]})

    assert response.status_code == 200


def test_openapi_documents_every_op_with_json_and_multipart_bodies(client):
    schema = client.get("/api/openapi.json").json()

    for op in [*BODIES, "softmax"]:
        operation = schema["paths"][f"/api/losses/{op}"]["post"]
        content = operation["requestBody"]["content"]
        assert {"application/json", "multipart/form-data"} <= set(content)
        assert {"200", "413", "422"} <= set(operation["responses"])
        assert '"NaN"' in operation["description"]
    assert "per_sequence" in json.dumps(schema["paths"]["/api/losses/perplexity"])


# --- multipart bodies, read in place ------------------------------------------------------------


def post_multipart(client, op, body: bytes, boundary="kb-test-boundary", **extra):
    return client.post(
        f"/api/losses/{op}",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        **extra,
    )


def multipart(*parts: tuple[str, bytes, str | None], boundary="kb-test-boundary") -> bytes:
    """A multipart body by hand: (name, content, filename or None) per part."""
    body = b""
    for name, content, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content
        body += b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def npy_bytes(array) -> bytes:
    return npy_file(array).getvalue()


def test_multipart_from_curl_style_parts_gives_pytorchs_numbers(client):
    logits = np.array([[2, 1, 0.1], [1, 2.5, 0.5]], dtype=np.float32)
    body = multipart(
        ("logits", npy_bytes(logits), "logits.npy"),
        ("target", npy_bytes(np.array([0, 1])), "target.npy"),
        ("reduction", b"none", None),
    )

    response = post_multipart(client, "cross-entropy", body)

    assert response.status_code == 200
    assert response.json()["result"] == pytest.approx([0.4170, 0.3064], abs=5e-5)


def test_an_npy_file_that_contains_the_boundary_prefix_is_read_whole(client):
    # float32 values whose bytes spell "\r\n--kb-" : the parser must not cut the file there
    tricky = np.frombuffer(b"\r\n--kb-test-bou" + b"\x00" * 1, dtype=np.float32)
    body = multipart(("logits", npy_bytes(tricky), "logits.npy"))

    response = post_multipart(client, "softmax", body)

    assert response.status_code == 200
    assert len(response.json()["result"]) == 4


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b'--b\r\nContent-Disposition: form-data; name="logits"\r\n\r\n1 2', None, "closing"),
        (b"no boundary at all", None, "could not be read"),
        (b"--b\r\nContent-Disposition: form-data\r\n\r\n1 2\r\n--b--\r\n", None, "no field name"),
        (
            b'--b\r\nContent-Disposition: form-data; name="logits"\r\n\r\n\xff\xfe\r\n--b--\r\n',
            None,
            "not UTF-8",
        ),
        (b"--b--\r\n", "multipart/form-data", "no boundary"),
        (b"--b\r\n" + b"x" * 200 + b"\r\n\r\n", None, "could not be read"),
    ],
)
def test_malformed_multipart_bodies_answer_422_with_a_sentence(client, body, content_type, words):
    response = client.post(
        "/api/losses/softmax",
        data=body,
        content_type=content_type or "multipart/form-data; boundary=b",
    )

    assert response.status_code == 422
    assert words in response.json()["error"]


def test_too_many_multipart_parts_are_refused(client):
    body = multipart(*[(f"f{i}", b"1", None) for i in range(100)])

    response = post_multipart(client, "softmax", body)

    assert response.status_code == 422
    assert "more than 64 parts" in response.json()["error"]


def test_an_upload_over_the_limit_is_refused_before_it_is_read(client):
    class Unreadable(io.BytesIO):
        def read(self, *args):
            raise AssertionError("the body was read")

    request_body = Unreadable(b"")
    response = client.generic(
        "POST",
        "/api/losses/softmax",
        CONTENT_TYPE="multipart/form-data; boundary=b",
        CONTENT_LENGTH=str(500_000_000),
        **{"wsgi.input": request_body},
    )

    assert response.status_code == 413
    assert "500,000,000 bytes" in response.json()["error"]


def test_multipart_errors_in_chinese(client):
    response = client.post(
        "/api/losses/softmax",
        data=b'--b\r\nContent-Disposition: form-data; name="logits"\r\n\r\n1 2',
        content_type="multipart/form-data; boundary=b",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    assert response.status_code == 422
    assert response.json()["error"] == "multipart 请求体在结束边界之前就结束了"
