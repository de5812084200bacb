"""The storage configuration: the AWS_* variables README gives become django-storages' S3
options, and a storage that cannot work is refused by the system checks with the variable to set
(``manage.py check``, also run by ``migrate`` and ``rqworker`` before they start)."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.files.storage import storages

from kb.checks import storage_configuration
from kb.settings import s3_storage_options

S3 = "storages.backends.s3.S3Storage"
README_VARIABLES = {
    "AWS_STORAGE_BUCKET_NAME": "kb-archives",
    "AWS_S3_ENDPOINT_URL": "https://s3.example.org",
    "AWS_S3_REGION_NAME": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_LOCATION": "/kb/",
}


def use_storage(settings, backend: str, options: dict) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": backend, "OPTIONS": options}}


def ids(errors) -> list[str]:
    return [error.id for error in errors]


def test_the_aws_variables_become_the_s3_storage_options(settings):
    options = s3_storage_options(README_VARIABLES)

    client = options.pop("client_config")
    assert (client.connect_timeout, client.read_timeout, client.retries["max_attempts"]) == (
        5,
        60,
        3,
    )
    assert options == {
        "bucket_name": "kb-archives",
        "endpoint_url": "https://s3.example.org",
        "region_name": "eu-central-1",
        "access_key": "AKIAEXAMPLE",
        "secret_key": "secret",
        "location": "kb",
        "addressing_style": None,
        "signature_version": None,
        "querystring_auth": False,
        "default_acl": None,
        "file_overwrite": True,
    }
    use_storage(settings, S3, options)
    storage = storages["default"]
    assert (storage.bucket_name, storage.endpoint_url, storage.location) == (
        "kb-archives",
        "https://s3.example.org",
        "kb",
    )
    assert storage.default_acl is None
    assert storage.querystring_auth is False
    assert storage_configuration() == []


def test_addressing_style_and_signature_version_reach_boto3(settings):
    variables = {"AWS_S3_ADDRESSING_STYLE": "path", "AWS_S3_SIGNATURE_VERSION": "s3v4"}
    use_storage(settings, S3, s3_storage_options(README_VARIABLES | variables))

    config = storages["default"].connection.meta.client.meta.config

    assert config.s3["addressing_style"] == "path"
    assert config.signature_version == "s3v4"
    assert config.connect_timeout == 5


def test_without_keys_boto3_finds_its_own_credentials():
    options = s3_storage_options({"AWS_STORAGE_BUCKET_NAME": "kb-archives"})

    assert "access_key" not in options
    assert "secret_key" not in options
    assert (options["endpoint_url"], options["region_name"], options["location"]) == (
        None,
        None,
        "",
    )


def test_local_files_need_nothing(settings):
    use_storage(settings, "django.core.files.storage.FileSystemStorage", {"location": "/tmp/x"})
    assert storage_configuration() == []


def test_an_s3_storage_without_a_bucket_names_the_variable(settings):
    use_storage(settings, S3, s3_storage_options({}))

    [error] = storage_configuration()

    assert error.id == "kb.E002"
    assert "AWS_STORAGE_BUCKET_NAME" in error.msg


def test_an_endpoint_that_is_not_an_http_address_is_refused(settings):
    for endpoint in ("s3.example.org", "ftp://s3.example.org", "http://", "http://host:99999"):
        use_storage(settings, S3, {"bucket_name": "kb", "endpoint_url": endpoint})
        [error] = storage_configuration()
        assert (error.id, error.msg.split("=")[0]) == ("kb.E003", "AWS_S3_ENDPOINT_URL"), endpoint


def test_an_s3_storage_without_boto3_says_to_install_it(settings, monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # `import boto3` fails as if not installed
    monkeypatch.delitem(sys.modules, "storages.backends.s3", raising=False)
    use_storage(settings, S3, {"bucket_name": "kb"})

    [error] = storage_configuration()

    assert error.id == "kb.E001"
    assert "KB_STORAGE_BACKEND=storages.backends.s3.S3Storage" in error.msg
    assert "boto3" in error.hint


def test_a_backend_that_does_not_exist_is_named(settings):
    use_storage(settings, "storages.backends.nowhere.Storage", {})
    [error] = storage_configuration()
    assert error.id == "kb.E001"
    assert "storages.backends.nowhere.Storage" in error.msg


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({}, "(kb.E002) The S3 storage has no bucket: AWS_STORAGE_BUCKET_NAME is not set."),
        (
            {"AWS_STORAGE_BUCKET_NAME": "kb", "AWS_S3_ENDPOINT_URL": "minio:9000"},
            "(kb.E003) AWS_S3_ENDPOINT_URL=minio:9000 is not an http:// or https:// address.",
        ),
    ],
)
def test_manage_py_refuses_to_start_with_the_sentence(tmp_path, variables, message):
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment |= {
        "DJANGO_SETTINGS_MODULE": "kb.settings",
        "KB_DATA_DIR": str(tmp_path),
        "KB_STORAGE_BACKEND": S3,
        **variables,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert message in result.stderr
