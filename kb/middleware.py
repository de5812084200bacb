"""Site-wide middleware: bodies refused by their declared size, NUL characters refused, first-account
setup, JSON errors under /api/."""

import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _

from kb.models import UserSettings

EXEMPT_PREFIXES = ("/setup/", "/static/", "/healthz", "/api/", "/i18n/", "/archive/", "/admin/")


class UserSettingsMiddleware:
    """``request.kb_settings``: the signed-in user's settings, read once when first asked for.

    A user's chosen language applies where this browser has not chosen one itself (the header's
    language buttons set a cookie, which wins): a new device speaks their language at once.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.kb_settings = SimpleLazyObject(lambda: UserSettings.for_user(request.user))
        if (
            request.user.is_authenticated
            and settings.LANGUAGE_COOKIE_NAME not in request.COOKIES
            and not request.path.startswith("/api/")
        ):
            language = request.kb_settings.language
            if language and language != translation.get_language():
                translation.activate(language)
                request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)


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
