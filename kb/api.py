"""The one NinjaAPI of the site: authentication and the error shape every route shares.

Errors are always a 4xx with `{"error": "<sentence>", ...}` (ARCHITECTURE §6); apps add routers to `api`.
"""

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
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


api = NinjaAPI(
    title="kb API",
    version="1",
    description='The link library and the loss demos. Errors: a 4xx with {"error": sentence}.',
    urls_namespace="api",
    docs_url="/docs",
)


def _field_path(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "payload", "query", "path")]
    return ".".join(parts)


@api.exception_handler(ValidationError)
def validation_error(request, exc: ValidationError):
    details = []
    for error in exc.errors:
        field = _field_path(error.get("loc", ()))
        message = error.get("msg", "invalid")
        details.append({"field": field, "message": message})
    first = details[0] if details else {"field": "", "message": "invalid"}
    sentence = _("%(field)s: %(message)s") % first if first["field"] else str(first["message"])
    return api.create_response(request, {"error": sentence, "fields": details}, status=422)


@api.exception_handler(AuthenticationError)
def authentication_error(request, exc):
    return api.create_response(
        request,
        {"error": _("Sign in or send an API token: Authorization: Bearer <token>.")},
        status=401,
    )


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    return api.create_response(request, {"error": str(exc.message)}, status=exc.status_code)


@api.exception_handler(ApiError)
def api_error(request, exc: ApiError):
    return api.create_response(request, {"error": exc.message, **exc.extra}, status=exc.status)


def register_routers() -> None:
    """Apps own their routers; the root URLconf calls this once."""
    from lossdemos.api import router as losses_router
    from snapshots.api import router as library_router

    api.add_router("", library_router)
    api.add_router("/losses", losses_router)


__all__ = ["WRITE_AUTH", "ApiError", "api", "optional_user", "register_routers"]
