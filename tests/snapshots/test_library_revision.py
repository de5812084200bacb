"""A change made outside the web process reaches the library's remembered counts at once.

The library page remembers its link count under the library's revision token (snapshots.revision),
in the cache of the process that serves it (Django's default per-process memory cache: kb sets no
CACHES). A `manage.py shell` is another process with nothing imported but the models: unless the
signals that write a new token are connected by the app itself, its edits leave the token as it was
and the web process goes on showing the old count.
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COUNT = re.compile(r'class="library__count"[^>]*>\s*(\d+) links?\b')

pytestmark = pytest.mark.network


def manage(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, timeout=120)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def library_count(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url}/links/", timeout=30) as response:
        found = COUNT.search(response.read().decode())
    assert found is not None, "the library page shows no link count"
    return int(found.group(1))


def wait_until_serving(base_url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert server.poll() is None, "the web server stopped"
        try:
            urllib.request.urlopen(f"{base_url}/healthz", timeout=5).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail("the web server did not start")


@pytest.fixture
def site(tmp_path):
    """A fresh SQLite site in its own data folder, served by `manage.py runserver`."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env |= {
        "KB_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "KB_TASK_BACKEND": "dummy",  # nothing here captures a page
    }
    manage(env, "migrate", "--noinput", "-v0")
    manage(
        env,
        "shell",
        "-v0",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        "from snapshots.services.links import link_create\n"
        "ada = get_user_model().objects.create_user('ada', password='correct horse 42')\n"
        "link_create(owner=ada, url='https://example.com/', private=False, capture=False)\n",
    )
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "runserver",
            "--noreload",
            "--skip-checks",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base_url, server)
        yield env, base_url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_link_made_private_in_manage_py_shell_leaves_the_public_count_at_once(site):
    env, base_url = site
    assert library_count(base_url) == 1
    assert library_count(base_url) == 1  # now remembered under the current token

    manage(
        env,
        "shell",
        "-v0",
        "-c",
        "from snapshots.models import Link\n"
        "link = Link.objects.get()\n"
        "link.private = True\n"
        "link.save()\n",
    )

    assert library_count(base_url) == 0
