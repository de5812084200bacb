"""A request whose database connection is cut off while it runs is answered again on a new one
(kb.middleware.AnswerAgainWhenTheDatabaseConnectionIsLost); a refused statement is not.

The production path's fault test cuts off PostgreSQL's connections under load for real
(tests/kb/test_production_faults.py); these pin down the decisions it relies on.
"""

from __future__ import annotations

import json
import sqlite3

import psycopg
import pytest
from django.core.signals import got_request_exception
from django.db import IntegrityError, OperationalError
from django.http import HttpResponse
from django.test import RequestFactory

from kb.database import connection_was_lost
from kb.middleware import AnswerAgainWhenTheDatabaseConnectionIsLost


def django_error(cause: Exception, kind=OperationalError) -> Exception:
    """What Django raises: its own error class, caused by the driver's (wrap_database_errors)."""
    try:
        raise kind(str(cause)) from cause
    except kind as error:
        return error


@pytest.mark.parametrize(
    "cause",
    [
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.errors.CrashShutdown("terminating connection because of crash of another server"),
        psycopg.OperationalError(
            "consuming input failed: server closed the connection unexpectedly"
        ),
        psycopg.errors.ConnectionFailure("connection failure"),
    ],
)
def test_a_connection_cut_off_by_the_server_or_found_closed_counts_as_lost(cause):
    assert connection_was_lost(django_error(cause))


@pytest.mark.parametrize(
    "error",
    [
        django_error(psycopg.errors.DeadlockDetected("deadlock detected")),
        django_error(psycopg.errors.QueryCanceled("canceling statement due to statement timeout")),
        django_error(sqlite3.OperationalError("database is locked")),
        django_error(psycopg.errors.UniqueViolation("duplicate key"), IntegrityError),
        ValueError("not a database error"),
    ],
)
def test_a_refused_statement_does_not_count_as_a_lost_connection(error):
    assert not connection_was_lost(error)


class Flaky:
    """A site whose database connection is cut off during the first ``failures`` requests: Django
    sends ``got_request_exception`` while it handles the error, then answers 500."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self, request):
        self.calls += 1
        if self.calls <= self.failures:
            try:
                raise self.error
            except type(self.error):
                got_request_exception.send(sender=None, request=request)
            return HttpResponse("Server Error", status=500)
        return HttpResponse("saved", status=201)


LOST = django_error(psycopg.errors.AdminShutdown("terminating connection"))


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch):
    monkeypatch.setattr("kb.middleware.time.sleep", lambda seconds: None)


def test_a_request_cut_off_once_is_answered_as_if_nothing_happened():
    site = Flaky(failures=1, error=LOST)

    response = AnswerAgainWhenTheDatabaseConnectionIsLost(site)(
        RequestFactory().post("/api/links", {"url": "https://example.org/"})
    )

    assert (response.status_code, response.content, site.calls) == (201, b"saved", 2)


def test_cut_off_on_every_attempt_it_answers_503_with_a_sentence_and_retry_after():
    site = Flaky(failures=99, error=LOST)

    response = AnswerAgainWhenTheDatabaseConnectionIsLost(site)(RequestFactory().get("/api/links"))

    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert "database connection was interrupted" in json.loads(response.content)["error"]
    assert site.calls == AnswerAgainWhenTheDatabaseConnectionIsLost.ATTEMPTS


def test_any_other_server_error_is_answered_once_as_it_is():
    site = Flaky(failures=1, error=django_error(psycopg.errors.DeadlockDetected("deadlock")))

    response = AnswerAgainWhenTheDatabaseConnectionIsLost(site)(RequestFactory().get("/"))

    assert (response.status_code, site.calls) == (500, 1)
