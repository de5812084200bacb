"""The one NinjaAPI of the site: both apps' routers and the error shape every route shares.

Errors are always a 4xx with `{"error": "<sentence>", ...}` (ARCHITECTURE §6); who is calling is `kb/api_auth.py`.
"""

from django.http import Http404
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from kb.api_auth import ApiError
from lossdemos.api import router as losses_router
from snapshots.api import router as library_router

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
    response = api.create_response(
        request,
        {"error": _("Sign in or send an API token: Authorization: Bearer <token>.")},
        status=401,
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    return api.create_response(request, {"error": str(exc.message)}, status=exc.status_code)


@api.exception_handler(Http404)
def not_found(request, exc: Http404):
    """What the caller may not see is missing, as on the pages (snapshots.access): its sentence."""
    return api.create_response(request, {"error": str(exc)}, status=404)


@api.exception_handler(ApiError)
def api_error(request, exc: ApiError):
    response = api.create_response(request, {"error": exc.message, **exc.extra}, status=exc.status)
    if exc.status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


api.add_router("", library_router)
api.add_router("/losses", losses_router)

__all__ = ["api"]
