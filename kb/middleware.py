"""Site-wide middleware: bodies refused by their declared size, NUL characters refused, a request
answered again when its database connection was cut off, first-account setup, JSON errors under
/api/."""

import json
import logging
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.signals import got_request_exception
from django.db import connections
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from kb.database import connection_was_lost

logger = logging.getLogger(__name__)

EXEMPT_PREFIXES = ("/setup/", "/static/", "/healthz", "/api/", "/i18n/", "/archive/", "/admin/")


class FirstUserSetupMiddleware:
    """Until the first account exists, every page leads to the setup page that creates it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.method == "GET"
            and not request.path.startswith(EXEMPT_PREFIXES)
            and not request.user.is_authenticated  # a signed-in user proves an account exists
            and not get_user_model().objects.exists()
        ):
            return redirect("setup")
        return self.get_response(request)


class ApiErrorsAsJson:
    """Under /api/, every error is JSON `{"error": sentence}` (ARCHITECTURE §6), even the ones that
    Django or ninja answer before a route runs: unknown paths (404) and wrong methods (405)."""

    SENTENCES = {
        404: _("There is no such API address."),
        405: _("This API address does not accept the %(method)s method."),
    }

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            sentence = self.SENTENCES.get(response.status_code, _("The request failed."))
            json_response = JsonResponse(
                {"error": str(sentence) % {"method": request.method}},
                status=response.status_code,
            )
            if response.has_header("Allow"):
                json_response["Allow"] = response["Allow"]
            return json_response
        return response


class RefuseOversizedBodies:
    """Refuse a body by the size it declares (Content-Length), before a byte of it is read: 413 with
    the API's JSON error under /api/, a page elsewhere.

    Without this, the first reader of the body (:class:`RejectNulCharacters`, the CSRF check)
    met Django's RequestDataTooBig and the client got an HTML "Bad Request (400)" — even from the
    JSON API — after the server had already received it. A multipart body may carry files up to
    KB_UPLOAD_MAX_BYTES (the largest upload any form or route takes); any other body,
    DATA_UPLOAD_MAX_MEMORY_SIZE (the JSON limit). Each route still checks its own, smaller limits
    with its own sentence (the loss API's .npy files, a bookmarks file) before reading.
    """

    SENTENCE = _(
        "The request body is %(size)s bytes, more than the %(limit)s bytes this address accepts."
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            size = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = 0  # Django reads an unreadable length as no body
        limit = self.limit(request)
        if limit is not None and size > limit:
            return self.refusal(request, size, limit)
        return self.get_response(request)

    @staticmethod
    def limit(request) -> int | None:
        if request.META.get("CONTENT_TYPE", "").startswith("multipart/"):
            return settings.KB_UPLOAD_MAX_BYTES
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def refusal(self, request, size: int, limit: int):
        # LocaleMiddleware has not run yet: the sentence is in the reader's language all the same.
        with translation.override(translation.get_language_from_request(request)):
            sentence = str(self.SENTENCE) % {"size": f"{size:,}", "limit": f"{limit:,}"}
            if request.path.startswith("/api/"):
                return JsonResponse({"error": sentence, "field": "body"}, status=413)
            return render(request, "413.html", {"sentence": sentence}, status=413)


class RejectNulCharacters:
    """A NUL character has no place in an address, a form or a JSON text, and PostgreSQL cannot
    store or even compare it: refuse such requests at the door with a 400 and a sentence, instead
    of letting each query fail. Uploaded files (multipart, .npy bytes) are not inspected.

    JSON is read in the encoding RFC 8259 lets a sender use (UTF-8, or UTF-16/UTF-32 with or
    without a BOM, told apart by where the zero bytes fall, as ``json.loads`` does): a UTF-16
    body is full of zero bytes that are not NUL characters."""

    SENTENCE = _("The request contains a NUL character (\\u0000), which kb does not accept.")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._has_nul(request):
            if request.path.startswith("/api/"):
                return JsonResponse({"error": str(self.SENTENCE)}, status=400)
            return HttpResponseBadRequest(
                str(self.SENTENCE), content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)

    @staticmethod
    def _has_nul(request) -> bool:
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", "").lower():
            return True
        content_type = request.META.get("CONTENT_TYPE", "")
        if content_type.startswith("application/json"):
            body = request.body
            text = body.decode(json.detect_encoding(body), errors="replace")
            return "\x00" in text or "\\u0000" in text or "%00" in text
        if content_type.startswith("application/x-www-form-urlencoded"):
            body = request.body
            return b"\x00" in body or b"\\u0000" in body or b"%00" in body
        return False


class AnswerAgainWhenTheDatabaseConnectionIsLost:
    """A request whose database connection was cut off while it ran — PostgreSQL restarted or failed
    over, an administrator's ``pg_terminate_backend``, a proxy dropping idle connections — is answered
    again, on a new connection, instead of with a 500.

    Django already replaces a connection that died *between* requests (``conn_health_checks``); this
    covers the ones that die *during* one. The server rolled back whatever the cut-off transaction
    had not committed, so running the request again is safe for kb's writes, which are idempotent by
    design (links and tags are got-or-created, edits set a state). Cut off on every attempt, it
    answers 503 with ``Retry-After`` and a sentence: the client may simply send it again.

    Django turns an exception into a 500 inside each middleware, so the error is learnt from the
    ``got_request_exception`` signal it sends while handling it — and only then can the connection
    be seen to be lost (by the end of the request, something may have opened a new one).
    """

    ATTEMPTS = 5
    SENTENCE = _("The database connection was interrupted. Please try again in a moment.")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for attempt in range(1, self.ATTEMPTS + 1):
            request.database_connection_lost = False
            response = self.get_response(request)
            if not (request.database_connection_lost and response.status_code >= 500):
                return response
            logger.warning("database connection lost during %s %s (attempt %d)",
                           request.method, request.path, attempt)  # fmt: skip
            # Closed whatever state psycopg thinks it is in (a cut-off one may still say IDLE):
            # the next query opens a new connection.
            connections.close_all()
            time.sleep(0.25 * attempt)  # past whatever cut it off (a restart takes a moment)
            for _name, uploads in request.FILES.lists() if hasattr(request, "_files") else ():
                for upload in uploads:
                    upload.seek(0)  # read again from the start by the next attempt
        return self.busy(request)

    def busy(self, request):
        if request.path.startswith("/api/"):
            response = JsonResponse({"error": str(self.SENTENCE)}, status=503)
        else:
            response = HttpResponse(
                str(self.SENTENCE), status=503, content_type="text/plain; charset=utf-8"
            )
        response["Retry-After"] = "2"
        return response


def _note_lost_connections(sender, request=None, **kwargs):
    if request is not None and connection_was_lost(sys.exc_info()[1]):
        request.database_connection_lost = True


got_request_exception.connect(_note_lost_connections, dispatch_uid="kb.lost_connections")
