"""torch is imported where a loss is computed, not with the URL configuration (lossdemos/engine.py).

Each test runs real processes — a gunicorn worker, `manage.py check`, `manage.py capture` — on a
fresh migrated data folder, and asks each process itself whether `torch` is in its `sys.modules`.
"""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.servers import LocalHTTPServer

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")

# Runs manage.py with its arguments and writes, as the process ends, whether torch was imported.
MANAGE_REPORTING_TORCH = """
import atexit, os, runpy, sys
report = os.environ["TORCH_REPORT"]
atexit.register(lambda: open(report, "w").write(str("torch" in sys.modules)))
sys.argv = ["manage.py", *sys.argv[1:]]
runpy.run_path("manage.py", run_name="__main__")
"""

# A gunicorn config: the port it bound, and after every request the worker's pid, the path and
# whether torch is in that worker's sys.modules.
GUNICORN_REPORTING_TORCH = """
import os, sys

def when_ready(server):
    with open({port_file!r}, "w") as f:
        f.write(str(server.LISTENERS[0].sock.getsockname()[1]))

def post_request(worker, req, environ, resp):
    with open({requests_file!r}, "a") as f:
        f.write(f"{{os.getpid()}} {{req.path}} {{resp.status_code}} {{'torch' in sys.modules}}\\n")
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A migrated data folder with one account (so pages answer instead of leading to /setup/)."""
    data = tmp_path_factory.mktemp("kb-data")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kb.settings",
        "KB_DATA_DIR": str(data),
        "KB_STATIC_ROOT": str(data / "static"),
        "KB_TASK_BACKEND": "immediate",
        "DJANGO_SUPERUSER_PASSWORD": "correct horse 44",
    }
    for command in (
        ["migrate", "--noinput", "-v0"],
        ["collectstatic", "--noinput", "-v0"],
        ["createsuperuser", "--noinput", "--username", "root", "--email", "root@example.org"],
    ):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, timeout=120
        )
    return env


def run_manage(env, tmp_path, *args) -> tuple[subprocess.CompletedProcess, bool]:
    """Run `manage.py *args`; its result and whether torch was imported by the time it ended."""
    report = tmp_path / "torch-report"
    result = subprocess.run(
        [sys.executable, "-c", MANAGE_REPORTING_TORCH, *args],
        cwd=ROOT,
        env={**env, "TORCH_REPORT": str(report)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, report.read_text() == "True"


def test_manage_py_check_does_not_import_torch(site, tmp_path):
    result, torch_imported = run_manage(site, tmp_path, "check")

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
    assert not torch_imported


def test_manage_py_capture_does_not_import_torch(site, tmp_path):
    page = b"<html><head><title>Seam</title></head><body><p>Words worth keeping.</p></body></html>"
    with LocalHTTPServer() as server:
        server.route("/page", body=page, headers={"Content-Type": "text/html; charset=utf-8"})
        env = {
            **site,
            "KB_FETCH_ALLOW_HOSTS": f"127.0.0.1:{server.port}",
            "KB_CAPTURE_ENGINE": "static",
        }
        result, torch_imported = run_manage(env, tmp_path, "capture", server.url("/page"))

    assert result.returncode == 0, result.stderr
    assert f"captured {server.url('/page')} — Seam" in result.stdout
    assert not torch_imported


@pytest.fixture
def gunicorn(site, tmp_path):
    """One gunicorn worker serving kb; yields (base URL, path of the per-request log)."""
    port_file, requests_file = tmp_path / "port", tmp_path / "requests"
    config = tmp_path / "gunicorn.conf.py"
    config.write_text(
        GUNICORN_REPORTING_TORCH.format(port_file=str(port_file), requests_file=str(requests_file))
    )
    command = [
        str(GUNICORN), "kb.wsgi", "--bind", "127.0.0.1:0", "--workers", "1",
        "--config", str(config), "--timeout", "60",
    ]  # fmt: skip
    log = tmp_path / "gunicorn.log"
    with log.open("w") as log_file:
        server = subprocess.Popen(command, cwd=ROOT, env=site, stdout=log_file, stderr=log_file)
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text()):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"gunicorn did not start: {log.read_text()}"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text()}", requests_file
    finally:
        server.terminate()
        server.wait(timeout=30)


def served(requests_file: Path, count: int) -> list[tuple[str, str, str, bool]]:
    """(worker pid, path, status, torch imported) of the first ``count`` requests the worker logged.

    The worker logs a request just after sending its answer, so the last line may come a moment
    after the client has read it.
    """
    deadline = time.monotonic() + 10
    while True:
        lines = requests_file.read_text().splitlines() if requests_file.exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    rows = [line.split() for line in lines[:count]]
    return [(pid, path, status, torch == "True") for pid, path, status, torch in rows]


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
        return response.status


def test_a_web_worker_serves_the_library_without_torch_and_imports_it_for_a_loss_page(gunicorn):
    base, requests_file = gunicorn

    statuses = {get(f"{base}/links/") for _ in range(100)}

    assert statuses == {200}
    library = served(requests_file, 100)
    assert len(library) == 100
    assert [torch for *_, torch in library] == [False] * 100

    assert get(f"{base}/losses/cross-entropy/") == 200

    *_, (pid, path, status, torch) = served(requests_file, 101)
    assert (path, status, torch) == ("/losses/cross-entropy/", "200", True)
    assert {pid for pid, *_ in library} == {pid}, "one worker served every request"
