"""Sign-in throttling (django-axes through kb/accounts.py), HSTS under KB_HTTPS, and static files
before collectstatic."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long passphrase 7"


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create_user("ada", password=PASSWORD)


def sign_in(client, username, password, address="203.0.113.7", **headers):
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
        **headers,
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_twenty_wrong_passwords_then_the_right_one_is_refused_with_the_wait(client, ada):
    answers = [sign_in(client, "ada", f"guess {n}").status_code for n in range(20)]
    # The first failures are ordinary form errors; from the limit on, every attempt is refused.
    assert answers[:9] == [200] * 9
    assert set(answers[10:]) == {429}

    right = sign_in(client, "ada", PASSWORD)
    assert right.status_code == 429
    assert right["Retry-After"] == "900"
    assert "Try again in 15 minutes." in right.content.decode()
    assert not signed_in(client)


def test_the_limit_holds_for_an_account_guessed_from_many_addresses(client, ada):
    for n in range(10):
        sign_in(client, "ada", "wrong", address=f"198.51.100.{n}")
    refused = sign_in(client, "ada", PASSWORD, address="192.0.2.1")
    assert refused.status_code == 429
    assert not signed_in(client)


def test_the_limit_holds_for_one_address_trying_many_accounts(client, ada):
    for n in range(10):
        sign_in(client, f"someone{n}", "wrong")
    refused = sign_in(client, "ada", PASSWORD)
    assert refused.status_code == 429
    assert not signed_in(client)


def test_forged_forwarded_for_does_not_give_a_fresh_address(client, ada):
    for n in range(10):
        sign_in(client, f"someone{n}", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert sign_in(client, "ada", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.200").status_code == 429


@override_settings(KB_PROXY_COUNT=1)
def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(client, ada):
    for n in range(10):
        sign_in(
            client, f"someone{n}", "wrong", address="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.9"
        )
    # Another client behind the same proxy is not locked out by its neighbour.
    other = sign_in(client, "ada", PASSWORD, address="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.10")
    assert other.status_code == 302
    assert signed_in(client)


def test_the_wait_ends_and_the_right_password_works_again(client, ada):
    for n in range(10):
        sign_in(client, "ada", f"guess {n}")
    assert sign_in(client, "ada", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    answer = sign_in(client, "ada", PASSWORD)
    assert answer.status_code == 302
    assert signed_in(client)


def test_the_admin_sign_in_is_throttled_too(client, ada):
    for n in range(10):
        client.post("/admin/login/", {"username": "ada", "password": f"guess {n}"})
    assert sign_in(client, "ada", PASSWORD, address="127.0.0.1").status_code == 429


def test_a_success_forgets_earlier_failures(client, ada):
    for n in range(9):
        sign_in(client, "ada", f"guess {n}")
    assert sign_in(client, "ada", PASSWORD).status_code == 302
    client.logout()
    for n in range(9):
        sign_in(client, "ada", f"guess again {n}")
    assert sign_in(client, "ada", PASSWORD).status_code == 302


def test_the_refusal_reads_in_chinese(client, ada):
    client.cookies["django_language"] = "zh-hans"
    for n in range(10):
        sign_in(client, "ada", f"guess {n}")
    page = sign_in(client, "ada", PASSWORD).content.decode()
    assert "请 15 分钟后再试" in page


def _settings_in_a_fresh_process(code: str, **environ) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "kb.settings", "ALLOWED_HOSTS": "testserver"}
    env.update(environ)
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_https_deployments_send_hsts(tmp_path):
    # Behind the proxy KB_HTTPS speaks of, a request is secure when the proxy says so.
    code = (
        "from django.test import Client; "
        "r = Client().get('/healthz', headers={'X-Forwarded-Proto': 'https'}); "
        "print(r.headers.get('Strict-Transport-Security'))"
    )
    with_https = _settings_in_a_fresh_process(code, KB_HTTPS="1", KB_DATA_DIR=str(tmp_path))
    assert with_https == "max-age=31536000"
    without = _settings_in_a_fresh_process(code, KB_HTTPS="", KB_DATA_DIR=str(tmp_path))
    assert without == "None"


def test_pages_render_before_collectstatic(client, ada, tmp_path):
    storage = {"BACKEND": "kb.storage.StaticFilesStorage"}
    with override_settings(
        STATIC_ROOT=tmp_path, STORAGES={**settings.STORAGES, "staticfiles": storage}
    ):
        page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert "/static/kb/site.css" in page.content.decode()
