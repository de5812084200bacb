"""Who is calling the API, and the one error every route raises.

Apart from `kb/api.py` so that the apps' routers can import these without importing the API that
assembles them (which imports the routers).
"""

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer, SessionAuth

from kb.models import ApiToken


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = ApiToken.user_for_key(token)
        if user is None:
            # A token was sent and is wrong: 401 now, not the session's CSRF 403 that would follow.
            raise AuthenticationError()
        request.user = user
        return user


class SignedInSession(SessionAuth):
    """The session's user with CSRF checked; without a session there is nothing to check, and the
    caller gets 401 (missing credentials), not 403 "CSRF check Failed"."""

    def __call__(self, request: HttpRequest):
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)


class ApiError(Exception):
    """Raise from any route to answer `{"error": message, **extra}` with the given status."""

    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


# Session auth keeps CSRF; bearer tokens are for scripts and other clients.
WRITE_AUTH = [BearerToken(), SignedInSession(csrf=True)]


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
