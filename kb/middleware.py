"""Site-wide middleware: first-account setup, and JSON errors under /api/."""

from django.contrib.auth import get_user_model
from django.http import JsonResponse
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
