"""An S3-compatible server for tests: moto's, run as its own HTTP process on 127.0.0.1.

kb talks to it exactly as to AWS, MinIO or R2 — boto3 over HTTP at ``AWS_S3_ENDPOINT_URL`` — so the
storage tests exercise the real client, signing and wire format, not a patched one. (MinIO,
SeaweedFS and Garage are not installable from the registries these machines reach; moto's
server is, from PyPI.) Its objects live in the server's memory: each test takes a new bucket.

    with S3Server() as s3:
        bucket = s3.new_bucket()
        s3.environment(bucket)   # the AWS_* variables kb reads (kb.settings.s3_storage_options)
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import tempfile
import urllib.request

import boto3

from tests.support.processes import free_port, wait_for

__all__ = ["S3Server", "store_blobs_in_bucket"]

ACCESS_KEY = "kb-test-access"
SECRET_KEY = "kb-test-secret"
REGION = "us-east-1"
_buckets = itertools.count(1)


class S3Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        if not wait_for(self._answers, 60):
            self.close()
            raise RuntimeError(f"moto's S3 server did not answer on {self.endpoint_url}")
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def _answers(self) -> bool:
        assert self.process.poll() is None, self.output()
        try:
            urllib.request.urlopen(self.endpoint_url + "/moto-api/", timeout=2).close()
        except OSError:
            return False
        return True

    def new_bucket(self) -> str:
        name = f"kb-test-{next(_buckets)}"
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> set[str]:
        """Every object name in ``bucket``."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def read(self, bucket: str, key: str) -> bytes:
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def environment(self, bucket: str, location: str = "") -> dict[str, str]:
        """The variables README's S3 section sets, pointing at this server and ``bucket``."""
        return {
            "KB_STORAGE_BACKEND": "storages.backends.s3.S3Storage",
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_S3_REGION_NAME": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_LOCATION": location,
        }

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def store_blobs_in_bucket(settings, server: S3Server, bucket: str, location: str = "") -> None:
    """pytest-django ``settings``: the default storage is ``bucket`` on ``server``, configured from
    the environment variables README gives, read as kb.settings reads them."""
    from kb.settings import s3_storage_options

    environment = server.environment(bucket, location)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": environment["KB_STORAGE_BACKEND"],
            "OPTIONS": s3_storage_options(environment),
        },
    }
