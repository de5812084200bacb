"""Every error under /api/ is JSON with a sentence, whatever answered it."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/no-such-thing", 404),
        ("put", "/api/losses/softmax", 405),
        ("delete", "/api/tags", 405),
    ],
)
def test_api_errors_are_json_sentences(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"].endswith(".")


def test_wrong_method_names_the_method(client):
    response = client.put("/api/losses/softmax")
    assert response.json() == {"error": "This API address does not accept the PUT method."}


def test_api_docs_stay_html(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "path",
    [
        "/api/links?q=a%00b",
        "/api/links?domain=a%00",
        "/api/links?tag=x%00",
        "/feeds/tags/a%00/",
        "/links/?q=a%00b",
        "/links/?tag=x%00",
    ],
)
def test_nul_characters_in_addresses_are_refused_with_a_sentence(client, user, path):
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()


def test_nul_characters_in_json_bodies_are_refused(client, user):
    client.force_login(user)
    response = client.post(
        "/api/links",
        data='{"url": "https://example.org/\\u0000", "tags": ["a"]}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "NUL character" in response.json()["error"]
