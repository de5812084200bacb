"""Saved searches from the library page: keep the search on screen under a name, or forget one."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from snapshots.choices import Sort
from snapshots.models import SavedSearch
from snapshots.services.saved_searches import (
    SavedSearchError,
    saved_search_create,
    saved_search_delete,
)


@login_required
@require_POST
def saved_search_add(request: HttpRequest) -> HttpResponse:
    q = request.POST.get("q", "")
    sort = request.POST.get("sort") or Sort.NEWEST
    try:
        saved = saved_search_create(
            owner=request.user, name=request.POST.get("name", ""), q=q, sort=sort
        )
    except SavedSearchError as error:
        messages.error(request, error.message)
        back = reverse("snapshots:library")
        return redirect(f"{back}?{urlencode({'q': q, 'sort': sort})}" if q else back)
    messages.success(request, _("Saved the search “%(name)s”.") % {"name": saved.name})
    return redirect(saved.library_url)


@login_required
@require_POST
def saved_search_remove(request: HttpRequest, pk: int) -> HttpResponse:
    saved = SavedSearch.objects.filter(pk=pk, owner=request.user).first()
    if saved is None:  # someone else's is as unknown as a missing one
        raise Http404("no such saved search")
    saved_search_delete(saved=saved)
    messages.success(request, _("Deleted the saved search “%(name)s”.") % {"name": saved.name})
    return redirect("snapshots:library")
