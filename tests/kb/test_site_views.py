"""The site's own pages: first-account setup, sign-in, health check, API token command."""

import hashlib
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

from kb.models import ApiToken

pytestmark = pytest.mark.django_db


def test_fresh_install_sends_every_page_to_first_account_setup(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/setup/"


def test_first_account_is_created_as_administrator_and_signed_in(client):
    response = client.post(
        "/setup/",
        {"username": "ada", "password1": "a long passphrase 7", "password2": "a long passphrase 7"},
    )
    assert response.status_code == 302
    ada = get_user_model().objects.get(username="ada")
    assert ada.is_superuser
    assert ada.is_staff
    home = client.get("/")
    assert home.status_code == 200
    assert "ada" in home.content.decode()


def test_setup_is_closed_once_an_account_exists(client, user):
    response = client.get("/setup/")
    assert response.status_code == 302
    response = client.post(
        "/setup/",
        {
            "username": "mallory",
            "password1": "a long passphrase 7",
            "password2": "a long passphrase 7",
        },
    )
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_setup_form_explains_mismatched_passwords(client):
    response = client.post(
        "/setup/", {"username": "ada", "password1": "a long passphrase 7", "password2": "other 8"}
    )
    assert response.status_code == 200
    assert "didn" in response.content.decode()  # Django's "The two password fields didn’t match."
    assert not get_user_model().objects.exists()


def test_home_page_shows_empty_states_for_a_new_user(client, user):
    client.force_login(user)
    page = client.get("/").content.decode()
    assert "No links yet." in page
    assert "Add your first link" in page
    assert "Open the loss demos" in page


def test_healthz_reports_database_and_worker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["problems"] == []
    assert body["database"]["ok"] is True
    assert body["worker"]["last_seen"] is None


def test_healthz_reports_when_a_worker_last_beat(client):
    from kb.heartbeat import Heartbeat

    Heartbeat(queue="default").beat()  # what a worker process's heartbeat thread does
    body = client.get("/healthz").json()
    assert body["worker"]["alive"] == 1
    assert body["worker"]["last_seen"] is not None
    assert body["worker"]["seconds_ago"] <= 5


def _api_token_command(username: str) -> str:
    out = StringIO()
    call_command("api_token", username, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def test_api_token_command_prints_a_working_token_as_its_last_line(user):
    # Tokens are stored hashed, so each call makes a new one; the earlier ones keep working.
    first = _api_token_command("ada")
    second = _api_token_command("ada")
    assert len(first) >= 32
    assert first != second
    for key in (first, second):
        answer = Client().get("/api/links", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200


def test_api_tokens_are_stored_only_as_their_hash(user):
    key = _api_token_command("ada")
    stored = ApiToken.objects.get(user=user)
    assert key not in {stored.key_hash, stored.prefix, stored.name}
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key.startswith(stored.prefix)


@pytest.mark.django_db(transaction=True)
def test_tokens_issued_before_hashing_keep_working(django_user_model):
    executor = MigrationExecutor(connection)
    executor.migrate([("kb", "0001_initial")])
    try:
        ada = django_user_model.objects.create_user("ada", password="correct horse 42")
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO kb_apitoken (key, created, user_id) VALUES (%s, %s, %s)",
                ["an-old-plain-key-of-some-length-0123456789", timezone.now(), ada.pk],
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    answer = Client().get(
        "/api/links",
        headers={"Authorization": "Bearer an-old-plain-key-of-some-length-0123456789"},
    )
    assert answer.status_code == 200


def test_api_token_command_names_an_unknown_user():
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("api_token", "nobody")


def test_language_follows_the_browser(client, user):
    client.force_login(user)
    page = client.get("/", headers={"accept-language": "zh-CN,zh;q=0.9"}).content.decode()
    assert 'lang="zh-hans"' in page
    assert "资料库" in page


def test_security_headers_on_site_pages(client, user):
    client.force_login(user)
    response = client.get("/")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_header_search_keeps_every_character_of_the_query(client, user):
    client.force_login(user)
    response = client.get("/search/", {"q": "R&D #1 + 交叉熵"})
    assert response.status_code == 302
    assert response["Location"] == "/links/?q=R%26D+%231+%2B+%E4%BA%A4%E5%8F%89%E7%86%B5"


def test_setup_explains_a_short_password_in_chinese(client):
    client.cookies["django_language"] = "zh-hans"
    response = client.post("/setup/", {"username": "ada", "password1": "k3x", "password2": "k3x"})
    assert response.status_code == 200
    assert "密码太短，至少要有 8 个字符。" in response.content.decode()
    assert not get_user_model().objects.exists()
