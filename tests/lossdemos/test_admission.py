"""Admission control for loss calculations (issue 10): a few at once per process, the rest told to
come back — the API with 503, ``Retry-After`` and its JSON error, a page with a sentence in its
results — instead of piling up until no thread is left for anything else.

The test holds the slots itself (``admission.admitted``), as long-running calculations would.
"""

import json
import threading

import pytest
from django.test import Client

from lossdemos import admission
from tests.support.pages import visible_text

pytestmark = pytest.mark.django_db

SOFTMAX = json.dumps({"logits": [2, 1, 0.1]})


@pytest.fixture
def client(user):
    return Client()


@pytest.fixture
def quick_refusal(monkeypatch, settings):
    """One slot, and no waiting for it: a taken slot refuses at once."""
    settings.KB_LOSS_CONCURRENCY = 1
    monkeypatch.setattr(admission, "WAIT_SECONDS", 0.01)


def post_softmax(client, **extra):
    return client.post("/api/losses/softmax", SOFTMAX, content_type="application/json", **extra)


def test_the_api_answers_503_with_retry_after_while_every_slot_is_taken(client, quick_refusal):
    with admission.admitted():
        response = post_softmax(client)

    assert response.status_code == 503
    assert response["Retry-After"] == str(admission.RETRY_AFTER_SECONDS)
    assert response.json() == {
        "error": "The server is busy with 1 other loss calculations; try again in 5 seconds."
    }


def test_the_api_computes_again_once_the_slot_is_free(client, quick_refusal):
    with admission.admitted():
        pass

    response = post_softmax(client)

    assert response.status_code == 200


def test_the_busy_sentence_is_translated(client, quick_refusal):
    with admission.admitted():
        response = post_softmax(client, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.json()["error"] == "服务器正忙于另外 1 个损失计算；请 5 秒后再试。"


def test_a_page_says_the_server_is_busy_in_its_results(client, quick_refusal):
    with admission.admitted():
        page = client.get("/losses/softmax/", {"logits": "2 1 0.1", "dim": "-1"})
        fragment = client.get(
            "/losses/softmax/", {"logits": "2 1 0.1", "dim": "-1", "fragment": "results"}
        )

    assert page.status_code == 503
    assert page["Retry-After"] == "5"
    assert "The server is busy with 1 other loss calculations" in visible_text(page)
    assert "Logits" in visible_text(page)  # the form is still there to try again
    assert fragment.status_code == 503
    assert "try again in 5 seconds" in visible_text(fragment)


def test_an_upload_on_a_busy_server_is_refused_the_same_way(client, quick_refusal):
    with admission.admitted():
        response = client.post("/losses/softmax/", {"upload-logits": "1 2", "upload-dim": "-1"})

    assert response.status_code == 503
    assert "The server is busy" in visible_text(response)


def test_the_setting_gives_that_many_slots(client, settings, monkeypatch):
    settings.KB_LOSS_CONCURRENCY = 2
    monkeypatch.setattr(admission, "WAIT_SECONDS", 0.01)

    with admission.admitted():
        second = post_softmax(client)
        with admission.admitted():
            third = post_softmax(client)

    assert (second.status_code, third.status_code) == (200, 503)
    assert "busy with 2 other" in third.json()["error"]


def test_a_request_waits_briefly_for_a_slot_to_free(client, settings, monkeypatch):
    settings.KB_LOSS_CONCURRENCY = 1
    monkeypatch.setattr(admission, "WAIT_SECONDS", 10.0)
    taken, release = threading.Event(), threading.Event()

    def long_calculation():
        with admission.admitted():
            taken.set()
            release.wait(10)

    worker = threading.Thread(target=long_calculation)
    worker.start()
    taken.wait(10)
    threading.Timer(0.2, release.set).start()
    response = post_softmax(client)
    worker.join(10)

    assert response.status_code == 200


def test_the_openapi_schema_declares_503_with_retry_after(client):
    schema = client.get("/api/openapi.json").json()

    operation = schema["paths"]["/api/losses/softmax"]["post"]
    assert "503" in operation["responses"]
    assert "Retry-After" in operation["responses"]["503"]["headers"]
    error = operation["responses"]["503"]["content"]["application/json"]["schema"]["$ref"]
    assert schema["components"]["schemas"][error.split("/")[-1]]["required"] == ["error"]
