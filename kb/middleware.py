"""Site-wide middleware: first-account setup, JSON errors under /api/, NUL characters refused."""

from django.contrib.auth import get_user_model
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

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


class RejectNulCharacters:
    """A NUL character has no place in an address, a form or a JSON text, and PostgreSQL cannot
    store or even compare it: refuse such requests at the door with a 400 and a sentence, instead
    of letting each query fail. Uploaded files (multipart, .npy bytes) are not inspected."""

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
        if content_type.startswith(("application/json", "application/x-www-form-urlencoded")):
            body = request.body
            return b"\x00" in body or b"\\u0000" in body or b"%00" in body
        return False
