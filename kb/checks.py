"""System checks of the configuration (``manage.py check``; also run by ``migrate``, ``rqworker``
and the other commands before they start): a storage that cannot work is named here, with the
environment variable to set, rather than as a traceback on the first capture.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

__all__ = ["storage_configuration"]


def storage_configuration(app_configs=None, **kwargs) -> list[Error]:
    """The default storage (stored archives) can be loaded, and an S3 one knows its bucket."""
    default = settings.STORAGES["default"]
    backend = default["BACKEND"]
    try:
        import_string(backend)
    except (ImportError, ImproperlyConfigured) as error:
        return [
            Error(
                _("KB_STORAGE_BACKEND=%(backend)s cannot be loaded: %(error)s")
                % {"backend": backend, "error": error},
                hint=_(
                    "Install the requirements (.venv/bin/pip install -r requirements.txt: boto3 for "
                    "storages.backends.s3.S3Storage), or correct KB_STORAGE_BACKEND."
                ),
                id="kb.E001",
            )
        ]
    if backend not in settings.S3_STORAGE_BACKENDS:
        return []
    options = default.get("OPTIONS", {})
    errors = []
    if not (options.get("bucket_name") or getattr(settings, "AWS_STORAGE_BUCKET_NAME", None)):
        errors.append(
            Error(
                _("The S3 storage has no bucket: AWS_STORAGE_BUCKET_NAME is not set."),
                hint=_("Set AWS_STORAGE_BUCKET_NAME to the bucket that keeps the archives."),
                id="kb.E002",
            )
        )
    endpoint = options.get("endpoint_url")
    if endpoint and not _is_http_url(endpoint):
        errors.append(
            Error(
                _("AWS_S3_ENDPOINT_URL=%(endpoint)s is not an http:// or https:// address.")
                % {"endpoint": endpoint},
                hint=_(
                    "Give the store's address, e.g. https://s3.example.org or "
                    "http://127.0.0.1:9000, or leave it unset for AWS."
                ),
                id="kb.E003",
            )
        )
    return errors


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # an impossible port
        return False
