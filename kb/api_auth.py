"""Who is calling the API, and the one error every route raises.

Apart from `kb/api.py` so that the apps' routers can import these without importing the API that
assembles them (which imports the routers).
"""

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja.security import HttpBearer, SessionAuth

from kb.models import ApiToken


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = ApiToken.user_for_key(token)
        if user is not None:
            request.user = user
        return user


class ApiError(Exception):
    """Raise from any route to answer `{"error": message, **extra}` with the given status."""

    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


# Session auth keeps CSRF; bearer tokens are for scripts and other clients.
WRITE_AUTH = [BearerToken(), SessionAuth(csrf=True)]


def optional_user(request: HttpRequest):
    """The caller for read routes that also answer anonymous visitors (public links only)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        user = ApiToken.user_for_key(header[7:].strip())
        if user is None:
            raise ApiError(401, _("The API token is not valid."))
        request.user = user
        return user
    return request.user if request.user.is_authenticated else None
