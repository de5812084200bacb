"""Why a capture failed, in the reader's language.

The capture pipeline writes its failure sentence in English (``Snapshot.error``, what the API
sends) and keeps its template and values (``Snapshot.error_message``), so the link page shows the
sentence in Chinese to a Chinese reader. Snapshots failed before the template was kept still show
their English sentence.
"""

import pickle

import pytest
from django.test import Client
from django.utils import timezone, translation

from kb.messages import to_json, translated
from snapshots.capture.errors import BlockedAddress, HTTPStatusError
from snapshots.models import Link, Snapshot
from snapshots.tasks import capture_snapshot, snapshot_request
from tests.support.capture import capture_from
from tests.support.pages import visible_text
from tests.support.servers import LocalHTTPServer

pytestmark = pytest.mark.django_db

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def server():
    with LocalHTTPServer() as server:
        server.route("/gone", status=404, body=b"gone", headers={"Content-Type": "text/plain"})
        yield server


@pytest.fixture(autouse=True)
def capture_settings(settings, server, tmp_path):
    capture_from(settings, server, tmp_path)


@pytest.fixture
def client(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def failed_link(user, server) -> Link:
    url = server.url("/gone")
    link = Link.objects.create(owner=user, url=url, normalized_url=url)
    snapshot = snapshot_request(link=link, enqueue=False)
    capture_snapshot.enqueue(snapshot.pk)  # the immediate backend of the tests runs it now
    snapshot.refresh_from_db()
    assert snapshot.status == Snapshot.Status.FAILED
    return link


def test_an_english_reader_sees_the_english_sentence(client, failed_link):
    page = visible_text(client.get(f"/links/{failed_link.pk}/", **ENGLISH))

    assert "the server answered 404 Not Found" in page


def test_a_chinese_reader_sees_the_sentence_in_chinese(client, failed_link):
    page = visible_text(client.get(f"/links/{failed_link.pk}/", **CHINESE))

    assert "服务器返回了 404 Not Found" in page
    assert "the server answered" not in page


def test_the_live_progress_shows_the_chinese_sentence_too(client, failed_link):
    page = visible_text(client.get(f"/links/{failed_link.pk}/status/", **CHINESE))

    assert "服务器返回了 404 Not Found" in page


def test_the_api_still_answers_the_english_sentence(api_token, failed_link):
    api = Client(headers={"Authorization": f"Bearer {api_token}"})
    snapshot = failed_link.snapshots.get()

    body = api.get(f"/api/snapshots/{snapshot.pk}", **CHINESE).json()

    assert body["error"] == "the server answered 404 Not Found"


def test_an_old_failure_without_its_template_shows_its_english_sentence(client, user):
    link = Link.objects.create(
        owner=user, url="https://example.com/old", normalized_url="https://example.com/old"
    )
    Snapshot.objects.create(
        link=link,
        status=Snapshot.Status.FAILED,
        finished=timezone.now(),
        error="the server answered 410 Gone",
    )

    page = visible_text(client.get(f"/links/{link.pk}/", **CHINESE))

    assert "the server answered 410 Gone" in page


def test_a_refusal_is_translated_with_its_reason():
    error = BlockedAddress("10.0.0.1", "10.0.0.1", "a private address")
    snapshot = Snapshot(error=error.sentence, error_message=to_json(error.sentence))

    assert snapshot.error == "refused: 10.0.0.1 is a private address"
    with translation.override("zh-hans"):
        assert snapshot.error_text == "已拒绝：10.0.0.1 是私有地址"
    with translation.override("en"):
        assert snapshot.error_text == "refused: 10.0.0.1 is a private address"


def test_an_error_passed_between_processes_can_still_be_translated():
    restored = pickle.loads(pickle.dumps(HTTPStatusError(404)))

    assert restored.sentence == "the server answered 404 Not Found"
    assert restored.status == 404
    with translation.override("zh-hans"):
        assert translated(restored.sentence) == "服务器返回了 404 Not Found"
