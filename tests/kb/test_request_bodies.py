"""Request bodies at the door (issue 10): refused by their declared size before a byte is read, with
the API's JSON error; JSON in any encoding RFC 8259 allows read, not mistaken for NUL characters."""

import io
import json

import numpy as np
import pytest
from django.test import Client

from lossdemos.limits import MULTIPART_BYTE_LIMIT
from snapshots.forms import MAX_LIBRARY_ZIP_BYTES
from tests.support.pages import visible_text

pytestmark = pytest.mark.django_db


class UnreadableBody:
    """A request body that fails the test if anything reads it."""

    def read(self, *args, **kwargs):
        raise AssertionError("the body was read")

    readline = read


def declared(size: int, content_type: str = "application/json") -> dict:
    """WSGI extras for a request that declares ``size`` bytes and sends none."""
    return {
        "CONTENT_LENGTH": str(size),
        "CONTENT_TYPE": content_type,
        "wsgi.input": UnreadableBody(),
    }


@pytest.fixture
def ada(user, api_token):
    return Client(headers={"Authorization": f"Bearer {api_token}"})


@pytest.fixture(autouse=True)
def captures_queued_not_run(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def test_a_json_body_over_the_limit_is_refused_with_413_json_before_it_is_read(client, settings):
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1

    response = client.generic("POST", "/api/losses/softmax", b"", **declared(size))

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": f"The request body is {size:,} bytes, more than the "
        f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes this address accepts.",
        "field": "body",
    }


def test_the_library_api_refuses_an_oversized_body_the_same_way(ada, settings):
    size = 40 * 1024 * 1024

    response = ada.generic("POST", "/api/links", b"", **declared(size))

    assert response.status_code == 413
    assert f"{size:,} bytes" in response.json()["error"]


def test_the_refusal_is_in_the_readers_language(client, settings):
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1

    response = client.generic(
        "POST",
        "/api/losses/softmax",
        b"",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
        **declared(size),
    )

    assert response.json()["error"] == (
        f"请求正文有 {size:,} 字节，超过了此地址接受的 "
        f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} 字节。"
    )


def test_a_multipart_upload_over_the_largest_upload_is_refused_before_it_is_read(client, settings):
    size = settings.KB_UPLOAD_MAX_BYTES + 1
    content_type = "multipart/form-data; boundary=kb"

    response = client.generic("POST", "/api/losses/softmax", b"", **declared(size, content_type))

    assert response.status_code == 413
    assert f"{settings.KB_UPLOAD_MAX_BYTES:,} bytes" in response.json()["error"]


def test_the_largest_upload_lets_every_form_and_route_have_its_own_limit(settings):
    assert settings.KB_UPLOAD_MAX_BYTES > MAX_LIBRARY_ZIP_BYTES  # a library zip, with its form
    assert settings.KB_UPLOAD_MAX_BYTES >= MULTIPART_BYTE_LIMIT


def test_the_loss_api_refuses_a_multipart_body_over_its_own_limit_before_reading_it(client):
    size = MULTIPART_BYTE_LIMIT + 1
    content_type = "multipart/form-data; boundary=kb"

    response = client.generic("POST", "/api/losses/softmax", b"", **declared(size, content_type))

    assert response.status_code == 413
    assert f"more than the {MULTIPART_BYTE_LIMIT:,} bytes" in response.json()["error"]


def test_a_large_npy_upload_under_the_file_limit_is_let_through(client):
    # 40 MB is over the JSON limit but an .npy may be far bigger: the route decides
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((10, 1_000_000), dtype=np.float32))
    buffer.seek(0)
    buffer.name = "logits.npy"

    response = client.post(
        "/api/losses/cross-entropy", {"logits": buffer, "target": json.dumps([0] * 10)}
    )

    assert response.status_code == 200


def test_a_page_refuses_an_oversized_form_with_a_page(user, settings):
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1
    client = Client()
    client.force_login(user)

    response = client.generic(
        "POST", "/links/add/", b"", **declared(size, "application/x-www-form-urlencoded")
    )

    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert "Too large" in visible_text(response)
    assert f"The request body is {size:,} bytes" in visible_text(response)


def test_a_body_within_the_limit_is_untouched(client):
    response = client.post(
        "/api/losses/softmax", {"logits": [2, 1, 0.1]}, content_type="application/json"
    )

    assert response.status_code == 200


# --- JSON encodings (RFC 8259 §8.1; detection as in RFC 4627 §3) ---------------------------------

ENCODINGS = ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_loss_api_reads_json_in_utf_16_and_utf_32(client, encoding):
    body = json.dumps({"logits": [2, 1, 0.1], "dim": -1}).encode(encoding)

    response = client.post("/api/losses/softmax", body, content_type="application/json")

    assert response.status_code == 200
    assert response.json()["result"] == pytest.approx([0.659, 0.2424, 0.0986], abs=1e-3)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32-be"])
def test_library_api_reads_json_in_utf_16_and_utf_32(ada, encoding):
    body = json.dumps(
        {"url": "https://example.org/编码", "title": "UTF-16 标题", "tags": ["编码"]},
        ensure_ascii=False,
    ).encode(encoding)

    response = ada.post("/api/links", body, content_type="application/json")

    assert response.status_code == 201
    assert response.json()["title"] == "UTF-16 标题"
    assert response.json()["tags"] == ["编码"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32-le"])
def test_a_real_nul_character_is_still_refused_in_any_encoding(ada, encoding):
    body = json.dumps({"url": "https://example.org/\x00", "tags": ["a"]}).encode(encoding)

    response = ada.post("/api/links", body, content_type="application/json")

    assert response.status_code == 400
    assert "NUL character" in response.json()["error"]
