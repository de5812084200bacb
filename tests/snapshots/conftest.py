"""Fixtures shared by the browser tests of archives (a module may define its own
``capture_settings`` for a capture server, which then takes precedence)."""

import pytest

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
