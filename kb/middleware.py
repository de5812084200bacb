"""Until the first account exists, every page leads to the setup page that creates it."""

from django.contrib.auth import get_user_model
from django.shortcuts import redirect

EXEMPT_PREFIXES = ("/setup/", "/static/", "/healthz", "/api/", "/i18n/", "/archive/", "/admin/")


class FirstUserSetupMiddleware:
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
