"""The library API driven with what its published OpenAPI schema allows, and with what it does not.

schemathesis generates requests for every library route (valid and invalid ones) and checks each answer
against the schema itself: no 5xx, a status the schema declares, a JSON body that matches that status's
schema. Callers are a Bearer token's owner and an anonymous visitor. Captures run at once (the tests'
immediate task backend) with the network cut off, so a capture of any generated URL fails fast.
"""

import json
import socket
import string

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kb.wsgi import application
from snapshots.models import Snapshot
from snapshots.normalize import clean_text, link_tags
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
def connection_kept():
    """schemathesis calls the WSGI application itself, whose request_finished closes the database
    connection, and with it the test's transaction (PostgreSQL); Django's test Client keeps it so."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


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
def test_library_answers_conform_to_the_schema(case, caller, library, api_token, connection_kept):
    aim_at_the_library(case, library)
    headers = {"Authorization": f"Bearer {api_token}"} if caller == "token" else {}
    case.call_and_validate(headers=headers, checks=CHECKS)


# --- the text a person or a script types: titles, tags, URLs ---------------------------------------

# Characters that have broken something somewhere: controls (C0, DEL, C1), NUL, lone surrogates (JSON
# may escape them), noncharacters, invisible and right-to-left marks, and the tag separators.
ODD = "\x00\x01\x08\x0b\x1b\x7f\x85\x9f\ud800\udbff\udc00\udfff\ufffe\uffff\u200b\u202e\ufeff"
SEPARATORS = " ,;，、；#\t\n\r"
characters = st.one_of(
    st.characters(exclude_categories=()),
    st.sampled_from(ODD + SEPARATORS),
    st.sampled_from(string.punctuation),
)
short_text = st.text(characters, max_size=30)
punctuation_only = st.text(st.sampled_from(string.punctuation + " "), min_size=1, max_size=6)
long_text = st.builds(
    lambda piece, times: piece * times,
    st.text(characters, min_size=1, max_size=3),
    st.sampled_from([100, 101, 500, 501, 5000]),
)
# one_of picks each branch about as often: the plain case twice, so most bodies get past the limits.
text = st.one_of(short_text, short_text, punctuation_only, long_text)
tags = st.one_of(
    text,
    st.lists(text, max_size=8),
    st.lists(short_text, max_size=8),
    st.integers(0, 120).map(lambda n: [f"t{i}" for i in range(n)]),  # around the 100-tag limit
)
url_path = st.text(characters.filter(lambda c: not c.isspace()), max_size=30)
local_url = st.builds("http://127.0.0.1:9/{}".format, url_path)
urls = st.one_of(
    local_url,
    local_url,
    local_url,
    st.builds("https://{}.example/".format, short_text),
    text,
    st.sampled_from(["http://127.0.0.1:9/" + "a" * 4100, "javascript:alert(1)", "//x", "http://"]),
)
WRITES = hypothesis.settings(FUZZ, max_examples=80)


def send(client, method, path, body):
    # ensure_ascii (the default) writes lone surrogates as \udXXX escapes, which JSON allows.
    return client.generic(method, path, json.dumps(body), content_type="application/json")


def answer_of(response) -> dict:
    """The JSON of an answer that is not a 5xx; a 4xx says why in a sentence."""
    assert response.status_code < 500, response.content
    answer = response.json()
    if response.status_code >= 400:
        assert isinstance(answer["error"], str), answer
        assert answer["error"], answer
    return answer


def assert_reads_back(client, link_id, *, title=None, tags=None):
    """The link as GET shows it has the title and tags sent, cleaned of control characters."""
    shown = answer_of(client.get(f"/api/links/{link_id}"))
    if title is not None:
        assert shown["title"] == clean_text(title).strip()
    if tags is not None:
        assert {t.casefold() for t in shown["tags"]} == {t.casefold() for t in link_tags(tags)}
    for value in (shown["title"], *shown["tags"]):
        assert clean_text(value) == value
    return shown


@pytest.fixture
def writer(user, api_token, offline):
    return Client(headers={"Authorization": f"Bearer {api_token}"})


@pytest.mark.django_db
def test_posted_titles_tags_and_urls_answer_4xx_or_read_back(writer):
    @given(url=urls, title=text, tags=tags)
    @WRITES
    def check(url, title, tags):
        response = send(writer, "POST", "/api/links", {"url": url, "title": title, "tags": tags})
        answer = answer_of(response)
        if response.status_code == 201:
            assert_reads_back(writer, answer["id"], title=title, tags=tags)
        elif response.status_code == 200:  # already saved: the tags are added, the title kept
            shown = assert_reads_back(writer, answer["id"])
            sent = {t.casefold() for t in link_tags(tags)}
            assert sent <= {t.casefold() for t in shown["tags"]}

    check()


@pytest.mark.django_db
def test_patched_titles_tags_and_urls_answer_4xx_or_read_back(writer, user):
    link, _ = link_create(owner=user, url="http://127.0.0.1:9/patched", tags=["start"])

    @given(body=st.fixed_dictionaries({}, optional={"url": urls, "title": text, "tags": tags}))
    @WRITES
    def check(body):
        response = send(writer, "PATCH", f"/api/links/{link.pk}", body)
        answer_of(response)
        if response.status_code == 200:
            assert_reads_back(writer, link.pk, title=body.get("title"), tags=body.get("tags"))

    check()


# --- what the fuzzing found, pinned ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://" + "a" * 300 + ".example/"},  # Link.domain is 255 long: PostgreSQL's 500
        {"url": "https://" + "a." * 127 + "example/"},  # dotted labels, 261 characters
        {"url": "http://127.0.0.1:9/", "tags": ["İ" * 100]},
    ],
    ids=["300-character-host", "261-character-dotted-host", "tag-longer-once-lowercased"],
)
def test_found_by_fuzzing_answers_4xx_or_reads_back(writer, body):
    response = send(writer, "POST", "/api/links", body)

    answer = answer_of(response)
    if response.status_code == 201:
        assert_reads_back(writer, answer["id"], tags=body.get("tags"))
