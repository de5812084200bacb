"""Settings for tests that really capture pages from a local fixture server."""


def capture_from(settings, server, tmp_path):
    """Let captures reach ``server`` on 127.0.0.1, fail fast, and store blobs under ``tmp_path``."""
    settings.KB_FETCH_ALLOW_HOSTS = [f"127.0.0.1:{server.port}"]
    settings.KB_CAPTURE_RETRY_DELAYS = (0, 0)
    settings.KB_CAPTURE_FETCH_OPTIONS = {"connect_timeout": 1.0, "read_timeout": 0.5}
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "blobs")},
        },
    }
    return settings
