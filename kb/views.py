"""Site-wide pages: home, first-account setup, search, health check."""

from urllib.parse import urlencode

from django.contrib.auth import get_user_model, login
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from kb.forms import FirstAccountForm
from kb.health import check as check_health
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
