"""Shared fixtures: users, API clients, and a real browser (Playwright driving Debian's chromium)."""

import os
import shutil

import pytest

from tests.support.pages import sign_in

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# between browser steps are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_setup",
    "live_server",
    "django_user_model",
}


def pytest_collection_modifyitems(config, items):
    """Mark every test that touches the database, so `make test` can run them again on PostgreSQL."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & DATABASE_FIXTURES or item.get_closest_marker("django_db"):
            item.add_marker(pytest.mark.database)


@pytest.fixture(scope="session", autouse=True)
def _load_url_configuration():
    """Import the URLconf and the loss engine (torch) once per test process, before any test's clock
    runs. The site imports the engine on the first loss page (lossdemos/engine.py); here that first
    request would pay several seconds of imports and a browser test could time out.
    """
    import kb.urls  # noqa: F401
    from lossdemos import engine

    engine.load()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a request handled in this thread (say in Chinese)
    leaves its language active, which would make later tests depend on the order they run in."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()


def chromium_path() -> str | None:
    return (
        os.environ.get("KB_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        message = "no Chromium found (apt-get install -y chromium, or set KB_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {message}")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser tab (own cookies) whose relative URLs go to the live test server."""
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="ada", password="correct horse 42")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="grace", password="correct horse 43")


@pytest.fixture
def api_token(user):
    from kb.models import ApiToken

    return ApiToken.issue(user)[1]


@pytest.fixture
def signed_in_page(page, user, live_server):
    """A browser tab already signed in as `user` (password `correct horse 42`)."""
    return sign_in(page, user.username)
