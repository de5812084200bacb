"""Who may write through the API: a wrong or missing token is 401 with WWW-Authenticate, never a
CSRF 403; a signed-in browser session still needs its CSRF token."""

import pytest
from django.test import Client

from kb.models import ApiToken

pytestmark = pytest.mark.django_db

BODY = {"url": "https://a.example/"}


@pytest.fixture(autouse=True)
def _captures_stay_queued(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.mark.parametrize("header", [{}, {"HTTP_AUTHORIZATION": "Bearer wrong"}])
def test_a_wrong_or_missing_token_is_401_with_www_authenticate(header):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/links", BODY, content_type="application/json", **header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "error" in response.json()


def test_a_wrong_token_on_a_read_route_is_401_with_www_authenticate(client):
    response = client.get("/api/links", HTTP_AUTHORIZATION="Bearer wrong")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_session_without_csrf_is_still_refused_and_a_token_is_not(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/links", BODY, content_type="application/json")
    assert response.status_code == 403
    token = ApiToken.issue(user)[1]
    response = Client().post(
        "/api/links", BODY, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 201
