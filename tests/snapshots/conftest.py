"""Fixtures shared by the browser tests of archives (a module may define its own
``capture_settings`` for a capture server, which then takes precedence)."""

import os

import pytest

from snapshots.capture.browser import find_chromium
from tests.support.capture import store_blobs_under
from tests.support.servers import TcpListener


@pytest.fixture
def elsewhere():
    """A second listener, never allowed to the fetcher: every byte it receives is a failure."""
    with TcpListener() as listener:
        yield listener


@pytest.fixture
def capture_settings(settings, tmp_path):
    return store_blobs_under(settings, tmp_path)


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium (or KB_CHROMIUM) for the browser engine: skipped where there is none, a
    failure in CI, which must run these tests."""
    path = find_chromium(os.environ.get("KB_CHROMIUM", ""))
    if path is None:
        message = "no Chromium found (apt-get install -y chromium, or set KB_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(f"the browser engine's tests must run in CI: {message}")
        pytest.skip(message)
    return path
