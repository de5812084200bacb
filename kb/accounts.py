"""Sign-in throttling: who a request comes from, and the page a locked-out visitor sees.

django-axes counts failed sign-ins per account and per address (settings `AXES_*`); after
`AXES_FAILURE_LIMIT` failures it refuses every attempt for that account or address, the right
password included, until `AXES_COOLOFF_TIME` has passed since the last one. These two functions are
the parts kb decides: the client's address behind `KB_PROXY_COUNT` trusted proxies, and a refusal that
says how long to wait instead of a bare 403.
"""

import math

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import ngettext


def client_address(request: HttpRequest) -> str:
    """REMOTE_ADDR, or the address the outermost of `KB_PROXY_COUNT` trusted proxies saw.

    Only the proxies' own entries of X-Forwarded-For are trusted: a client can put anything in front.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    if not settings.KB_PROXY_COUNT:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < settings.KB_PROXY_COUNT:
        return remote
    return forwarded[-settings.KB_PROXY_COUNT]


def minutes_to_wait(request: HttpRequest, username: str) -> int:
    """Whole minutes until the cool-off of this account's or this address's last failure ends."""
    last = AccessAttempt.objects.filter(
        Q(username=username) | Q(ip_address=client_address(request))
    ).aggregate(last=Max("attempt_time"))["last"]
    if last is None:
        return math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    remaining = (last + settings.AXES_COOLOFF_TIME - timezone.now()).total_seconds()
    return max(1, math.ceil(remaining / 60))


def sign_in_locked_out(
    request: HttpRequest, original_response=None, credentials=None
) -> HttpResponse:
    """The sign-in page again, with a sentence naming the wait, answered 429."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    minutes = minutes_to_wait(request, username)
    form = AuthenticationForm(request, data=request.POST or None)
    form.errors.clear()
    form.add_error(
        None,
        ngettext(
            "Too many failed sign-ins for this account or from this address. "
            "Try again in %(minutes)d minute.",
            "Too many failed sign-ins for this account or from this address. "
            "Try again in %(minutes)d minutes.",
            minutes,
        )
        % {"minutes": minutes},
    )
    response = render(request, "registration/login.html", {"form": form}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
