"""Site-wide pages: home, first-account setup, search, account settings, health check."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from kb.forms import ApiTokenForm, FirstAccountForm, LibraryViewForm, UserSettingsForm
from kb.health import check as check_health
from kb.models import ApiToken, UserSettings
from snapshots.queries import home_sections


def home(request):
    return render(request, "kb/home.html", home_sections(request.user))


@never_cache
def setup(request):
    """Offered only while no account exists: makes the first one, an administrator, and signs it in."""
    if get_user_model().objects.exists():
        return redirect("home")
    form = FirstAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save(commit=False)
        user.is_staff = True
        user.is_superuser = True
        user.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return render(request, "kb/setup.html", {"form": form})


def search(request):
    """The header's search box: one place to search the library (and, later, other sources)."""
    query = request.GET.get("q", "").strip()
    target = reverse("snapshots:library")
    return redirect(f"{target}?{urlencode({'q': query})}" if query else target)


@require_GET
@never_cache
def healthz(request):
    """200 {"status": "ok", ...} while kb can do its work; 503 {"status": "failing", "problems": [...]}
    when it cannot (kb.health says what is checked). The details come along either way."""
    health = check_health()
    body = {"status": "ok" if health.ok else "failing", "problems": health.problems}
    return JsonResponse(body | health.details, status=200 if health.ok else 503)


def _settings_page(request, *, form=None, token_form=None, new_key: str = "", status: int = 200):
    return render(
        request,
        "kb/settings.html",
        {
            "form": form or UserSettingsForm(instance=UserSettings.for_user(request.user)),
            "token_form": token_form or ApiTokenForm(),
            "tokens": request.user.api_tokens.order_by("-created", "-id"),
            "new_key": new_key,
            "api_url": request.build_absolute_uri("/api/"),
        },
        status=status,
    )


@login_required
@never_cache
def account_settings(request):
    """Language, new links' privacy and theme; the API tokens are listed (and made) here too."""
    if request.method != "POST":
        return _settings_page(request)
    form = UserSettingsForm(request.POST, instance=UserSettings.for_user(request.user))
    if not form.is_valid():
        return _settings_page(request, form=form, status=400)
    chosen = form.save()
    messages.success(request, _("Your settings are saved."))
    response = redirect("account_settings")
    # The language applies at once, in this browser too (the cookie the header's buttons set).
    if chosen.language:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            chosen.language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            secure=settings.LANGUAGE_COOKIE_SECURE,
        )
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)
    return response


@login_required
@require_POST
@never_cache
def api_token_create(request):
    """A new token, shown on the answer to this request only: nothing keeps the key but its hash."""
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, token_form=form, status=400)
    _token, key = ApiToken.issue(request.user, name=form.cleaned_data["name"])
    return _settings_page(request, new_key=key)


@login_required
@require_POST
def api_token_revoke(request, pk: int):
    deleted, _rows = ApiToken.objects.filter(pk=pk, user=request.user).delete()
    if not deleted:
        raise Http404(_("No such token."))
    messages.success(request, _("The token is revoked: it no longer opens the API."))
    return redirect("account_settings")


@login_required
@require_POST
def library_view(request):
    """The library's compact or picture view, remembered for this user."""
    form = LibraryViewForm(request.POST)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("snapshots:library")
    if form.is_valid():
        UserSettings.objects.update_or_create(
            user=request.user, defaults={"library_view": form.cleaned_data["view"]}
        )
    return redirect(back)


@require_GET
def web_manifest(request):
    """The web app manifest: installable, and a share target, so a phone's share sheet can send a
    link to kb (it opens the add-link form with the address filled in)."""
    manifest = {
        "name": _("kb — knowledge base"),
        "short_name": "kb",
        "start_url": reverse("snapshots:library"),
        "display": "standalone",
        "icons": [{"src": static("kb/favicon.svg"), "sizes": "any", "type": "image/svg+xml"}],
        "share_target": {
            "action": reverse("snapshots:link_add"),
            "method": "GET",
            "params": {"title": "title", "text": "text", "url": "url"},
        },
    }
    response = JsonResponse(manifest, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/manifest+json"
    return response
