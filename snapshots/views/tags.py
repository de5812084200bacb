"""Tags: the reader's tags with their counts (the public ones for visitors); renaming, merging
and deleting one's own."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from snapshots import access
from snapshots.forms import TagDeleteForm, TagMergeForm, TagRenameForm
from snapshots.models import Link
from snapshots.normalize import LinkError, tag_sort_key
from snapshots.queries import tag_counts
from snapshots.services.tags import tag_delete, tag_merge, tag_rename


@require_GET
def tags(request: HttpRequest) -> HttpResponse:
    """Signed in: your tags with counts, to rename, merge or delete. Anonymous: the public tags."""
    user = request.user
    if user.is_authenticated:
        own = _most_used_first(tag_counts(Link.objects.filter(owner=user)))
        public = []
    else:
        own = []
        public = _most_used_first(tag_counts(access.visible_links(user)))
    return render(
        request,
        "snapshots/tags.html",
        {"own_tags": own, "public_tags": public, "merge_form": TagMergeForm()},
    )


def _most_used_first(tags) -> list:
    """Most used first; among equals, numbers in names in their order (第2页 before 第10页)."""
    return sorted(tags, key=lambda tag: (-tag.count, tag_sort_key(tag.name)))


def _form_refused(request: HttpRequest, form) -> HttpResponse:
    """Back to the tags page, the form's errors shown there."""
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)
    return redirect("snapshots:tags")


def _change_tags(request: HttpRequest, form, change: Callable[[dict], str]) -> HttpResponse:
    """Back to the tags page after ``change(form.cleaned_data)``: what it did, or why not."""
    if not form.is_valid():
        return _form_refused(request, form)
    try:
        done = change(form.cleaned_data)
    except LinkError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return redirect("snapshots:tags")


def _rename(owner, data: dict) -> str:
    old, new = data["old"], data["new"].strip()
    tag_rename(owner=owner, old=old, new=new)
    return _("Renamed “%(old)s” to “%(new)s”.") % {"old": old, "new": new}


def _merge(owner, data: dict) -> str:
    sources, target = data["sources"], data["target"].strip()
    tag_merge(owner=owner, sources=sources, target=target)
    names = ", ".join(f"“{name}”" for name in sources)
    return _("Merged %(sources)s into “%(target)s”.") % {"sources": names, "target": target}


def _delete(owner, data: dict) -> str:
    tag_delete(owner=owner, name=data["name"])
    return _("Deleted the tag “%(name)s”.") % {"name": data["name"]}


@login_required
@require_POST
def tag_rename_view(request: HttpRequest) -> HttpResponse:
    return _change_tags(request, TagRenameForm(request.POST), partial(_rename, request.user))


@login_required
@require_POST
def tag_merge_view(request: HttpRequest) -> HttpResponse:
    return _change_tags(request, TagMergeForm(request.POST), partial(_merge, request.user))


@login_required
def tag_delete_view(request: HttpRequest) -> HttpResponse:
    """GET ?name= asks to confirm; POST removes the tag from the user's links (the links stay)."""
    if request.method == "POST":
        return _change_tags(request, TagDeleteForm(request.POST), partial(_delete, request.user))
    form = TagDeleteForm(request.GET)
    if not form.is_valid():
        return _form_refused(request, form)
    name = form.cleaned_data["name"]
    count = Link.objects.filter(owner=request.user, tags__name__iexact=name).distinct().count()
    if not count:
        raise Http404("no such tag among your links")
    return render(
        request, "snapshots/tag_delete.html", {"name": name, "count": count, "form": form}
    )
