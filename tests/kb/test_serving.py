"""A served process settles before its first request: every view loaded, and what it loaded left
out of the garbage collector's rounds (kb.serving.settle), so no request pays a 60 ms walk over
the 130,000 objects of the loaded site."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json, sys
import kb.wsgi
print(json.dumps({
    "frozen": gc.get_freeze_count(),
    "views_loaded": "snapshots.views" in sys.modules,
}))
"""


def test_the_web_process_loads_its_views_and_freezes_them_before_serving(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kb.settings",
        "ALLOWED_HOSTS": "testserver",
        "KB_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["views_loaded"]  # before any request
    assert seen["frozen"] > 50_000  # the loaded site, out of the collector's rounds
    # that it then serves pages is what test_serve_command and the production tests prove,
    # through gunicorn's kb.wsgi
