"""The library API driven with what its published OpenAPI schema allows, and with what it does not.

schemathesis generates requests for every library route (valid and invalid ones) and checks each answer
against the schema itself: no 5xx, a status the schema declares, a JSON body that matches that status's
schema. Callers are a Bearer token's owner and an anonymous visitor. Captures run at once (the tests'
immediate task backend) with the network cut off, so a capture of any generated URL fails fast.
"""

import socket

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kb.wsgi import application
from snapshots.models import Snapshot
from snapshots.services.links import link_create
from snapshots.tasks import snapshot_request

FUZZ = hypothesis.settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
LIBRARY_PATHS = r"^/api/(links|snapshots|tags)"

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)


@pytest.fixture
def offline(monkeypatch, settings):
    """Nothing leaves the machine: names do not resolve, and every connection is refused at once."""
    real_getaddrinfo = socket.getaddrinfo

    def numeric_only(host, port, *args, **kwargs):
        return real_getaddrinfo(host, port, *args, **{**kwargs, "flags": socket.AI_NUMERICHOST})

    def refuse(self, address):
        raise ConnectionRefusedError(f"offline test: no connection to {address}")

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    settings.KB_CAPTURE_RETRY_DELAYS = (0, 0)
    settings.KB_CAPTURE_FETCH_OPTIONS = {"connect_timeout": 0.5, "read_timeout": 0.5}


@pytest.fixture
def library(user, other_user, offline):
    """A few links to find: the caller's private and public ones, another person's public one, each
    with the failed capture that saving it ran, and one capture of the first still pending."""
    links = [
        link_create(owner=user, url="http://127.0.0.1:9/private", tags=["ml", "notes"])[0],
        link_create(owner=user, url="http://127.0.0.1:9/public", tags=["ml"], private=False)[0],
        link_create(owner=other_user, url="http://127.0.0.1:9/theirs", private=False)[0],
    ]
    snapshot_request(link=links[0], enqueue=False)
    return {
        "link_id": [link.pk for link in links],
        "snapshot_id": list(Snapshot.objects.filter(link__in=links).values_list("pk", flat=True)),
    }


def aim_at_the_library(case, library) -> None:
    """An even generated id becomes one of the library's own, so that about half the requests reach
    a real link or snapshot; other ids (odd, negative, not numbers at all) are sent as generated."""
    for name, value in (case.path_parameters or {}).items():
        if isinstance(value, int) and not isinstance(value, bool) and value % 2 == 0:
            ids = library[name]
            case.path_parameters[name] = ids[value // 2 % len(ids)]


@pytest.mark.django_db
@pytest.mark.parametrize("caller", ["token", "anonymous"])
@schema.include(path_regex=LIBRARY_PATHS).parametrize()
@FUZZ
def test_library_answers_conform_to_the_schema(case, caller, library, api_token):
    aim_at_the_library(case, library)
    headers = {"Authorization": f"Bearer {api_token}"} if caller == "token" else {}
    case.call_and_validate(headers=headers, checks=CHECKS)
