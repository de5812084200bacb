"""The capture queue recovers by itself: the database, not the broker, says what is to capture.

An add whose enqueue fails (Redis down) still answers with the saved link and its pending
snapshot; a pending snapshot whose job was lost is queued again by the worker's pass.
"""

import json
import socket

import pytest
from django.test import Client
from django.urls import reverse

from kb.models import ApiToken
from snapshots.models import Link, Snapshot


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_down(settings):
    """kb on the rq backend, its Redis a port nobody listens on."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    settings.RQ_QUEUES = {"default": {"URL": f"redis://127.0.0.1:{closed_port()}/11"}}


@pytest.mark.django_db(transaction=True)
def test_an_api_add_while_redis_is_down_answers_201_with_a_pending_snapshot(
    redis_down, user, caplog
):
    client = Client(headers={"Authorization": f"Bearer {ApiToken.issue(user)[1]}"})
    body = {"url": "https://example.org/queued", "tags": ["later"]}
    response = client.post("/api/links", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    link = Link.objects.get(pk=response.json()["id"])
    assert [s.status for s in link.snapshots.all()] == [Snapshot.Status.PENDING]
    assert "stays pending" in caplog.text
    again = client.post("/api/links", json.dumps(body), content_type="application/json")
    assert again.status_code == 200
    assert link.snapshots.filter(status=Snapshot.Status.PENDING).count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_add_page_while_redis_is_down_saves_the_link_and_opens_it(redis_down, user):
    client = Client()
    client.force_login(user)
    response = client.post(
        reverse("snapshots:link_add"), {"url": "https://example.org/page", "tags": "x"}
    )
    link = Link.objects.get(owner=user)
    assert response.status_code == 302
    assert response.url == reverse("snapshots:link_detail", args=[link.pk])
    assert link.latest_snapshot.status == Snapshot.Status.PENDING
