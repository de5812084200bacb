"""Test settings: kb's own settings with a throwaway data folder and fast password hashing."""

import os
import tempfile

os.environ.setdefault("KB_DATA_DIR", tempfile.mkdtemp(prefix="kb-test-data-"))
os.environ.setdefault("KB_TASK_BACKEND", "immediate")

from kb.settings import *  # noqa: F403
from kb.settings import STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Existing capture tests check the static engine; the browser engine's tests ask for theirs.
KB_CAPTURE_ENGINE = "static"
