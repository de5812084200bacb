"""One link: adding it (also from the bookmarklet), its page and capture history, capturing it
again, editing, deleting, and comparing two of its snapshots.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from kb.markdown import render_markdown
from snapshots import access
from snapshots.choices import CaptureEngine
from snapshots.forms import CompareForm, LinkEditForm, LinkForm
from snapshots.models import Link, Snapshot
from snapshots.normalize import LinkError
from snapshots.queries import own_tag_names
from snapshots.services.diff import diff_texts
from snapshots.services.links import link_create, link_delete, link_update
from snapshots.tasks import capture_chromium, captures_ahead, snapshot_request


@login_required
def link_add(request: HttpRequest) -> HttpResponse:
    """Add a link (also opened by the bookmarklet with ?url=&title=). A twin opens the saved link."""
    if request.method == "POST":
        form = LinkForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                link, created = link_create(
                    owner=request.user,
                    url=data["url"],
                    tags=data["tags"],
                    title=data["title"],
                    notes=data["notes"],
                    private=data["private"],
                )
            except LinkError as error:
                form.add_error("url", error.message)
            else:
                if created:
                    messages.success(request, _("Saved. The page is being captured."))
                else:
                    saved_on = formats.date_format(timezone.localtime(link.created), "DATE_FORMAT")
                    messages.info(
                        request,
                        _("You saved this link on %(date)s; a new capture was queued.")
                        % {"date": saved_on},
                    )
                return redirect("snapshots:link_detail", pk=link.pk)
    else:
        form = LinkForm(
            initial={
                "url": _shared_url(request.GET)[:2048],
                "title": request.GET.get("title", "")[:500],
                # The loss demos' "add a link about <concept>" arrives with ?tags=.
                "tags": request.GET.get("tags", "")[:500],
                "private": request.kb_settings.new_links_private,
            }
        )
    add_url = request.build_absolute_uri(reverse("snapshots:link_add"))
    bookmarklet = (
        "javascript:(function(){location.href='"
        + add_url
        + "?url='+encodeURIComponent(location.href)+'&title='+encodeURIComponent(document.title);})();"
    )
    return render(
        request,
        "snapshots/link_add.html",
        {"form": form, "own_tags": own_tag_names(request.user), "bookmarklet": bookmarklet},
    )


_URL_IN_TEXT = re.compile(r"https?://\S+")


def _shared_url(query) -> str:
    """The address a bookmarklet or a phone's share sheet sent (the web app manifest's share
    target): phones often put it in ``text`` ("Title https://…") rather than ``url``."""
    url = query.get("url", "").strip()
    if url:
        return url
    found = _URL_IN_TEXT.search(query.get("text", ""))
    return found.group(0) if found else ""


def _history_context(request: HttpRequest, link: Link) -> dict:
    snapshots = list(link.snapshots.all())
    succeeded = [s for s in snapshots if s.status == Snapshot.Status.SUCCEEDED]
    latest = snapshots[0] if snapshots else None
    captured = succeeded[0] if succeeded else None
    return {
        "link": link,
        "snapshots": snapshots,
        "latest": latest,
        "captured": captured,
        # The heading: the user's title, else the newest capture's that succeeded, else the URL
        # (the live update of the page swaps it in when a capture ends).
        "page_title": link.title or (captured.title if captured else "") or link.display_title,
        "queue_ahead": captures_ahead(latest)
        if latest is not None and latest.status == Snapshot.Status.PENDING
        else None,
        "can_compare": len(succeeded) >= 2,
        "succeeded": succeeded,
        "in_progress": any(not s.is_finished for s in snapshots),
        "can_edit": access.can_edit(request.user, link),
    }


@require_GET
def link_detail(request: HttpRequest, pk: int) -> HttpResponse:
    link = access.link_read(request, pk)
    context = _history_context(request, link)
    captured = context["captured"]
    context["icon_url"] = (
        reverse("snapshots:snapshot_icon", args=[captured.pk])
        if captured and captured.icon_sha256
        else ""
    )
    context["screenshot_url"] = (
        reverse("snapshots:snapshot_screenshot", args=[captured.pk])
        if captured and captured.screenshot_sha256
        else ""
    )
    context["engines"] = CaptureEngine.choices
    context["default_engine"] = settings.KB_CAPTURE_ENGINE
    context["browser_available"] = capture_chromium() is not None
    context["notes_html"] = render_markdown(link.notes) if link.notes else ""
    context["tags"] = sorted(link.tags.names(), key=str.casefold)
    if context["can_compare"]:
        context["compare_form"] = CompareForm(
            initial={"a": context["succeeded"][1].pk, "b": context["succeeded"][0].pk}
        )
    return render(request, "snapshots/link_detail.html", context)


@require_GET
@never_cache
def link_capture_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The capture history fragment, polled by capture-status.js until every capture has finished."""
    link = access.link_read(request, pk)
    return render(
        request, "snapshots/link_detail.html#capture-history", _history_context(request, link)
    )


@login_required
@require_POST
def link_capture(request: HttpRequest, pk: int) -> HttpResponse:
    link = access.link_write(request, pk)
    engine = request.POST.get("engine", "")
    if engine and engine not in CaptureEngine.values:
        messages.error(request, _("Choose how to capture the page from the list."))
        return redirect("snapshots:link_detail", pk=link.pk)
    if engine == CaptureEngine.BROWSER and capture_chromium() is None:
        messages.error(
            request, _("The browser engine is off on this server: no Chromium was found.")
        )
        return redirect("snapshots:link_detail", pk=link.pk)
    with access.link_kept(link.pk):
        snapshot_request(link=link, engine=engine, priority=Snapshot.Priority.ASKED)
    messages.success(request, _("A new capture was queued."))
    return redirect("snapshots:link_detail", pk=link.pk)


@login_required
def link_edit(request: HttpRequest, pk: int) -> HttpResponse:
    link = access.link_write(request, pk)
    if request.method == "POST":
        form = LinkEditForm(request.POST)
        if form.is_valid():
            try:
                with access.link_kept(link.pk):
                    link_update(link=link, **form.cleaned_data)
            except LinkError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Changes saved."))
                return redirect("snapshots:link_detail", pk=link.pk)
    else:
        form = LinkEditForm(
            initial={
                "title": link.title,
                "tags": ", ".join(sorted(link.tags.names(), key=str.casefold)),
                "notes": link.notes,
                "private": link.private,
                "unread": link.unread,
            }
        )
    return render(
        request,
        "snapshots/link_edit.html",
        {"form": form, "link": link, "own_tags": own_tag_names(request.user)},
    )


@login_required
def link_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks to confirm; POST deletes the link with its snapshots."""
    link = access.link_write(request, pk)
    if request.method == "POST":
        title = link.display_title
        link_delete(link=link)
        messages.success(request, _("Deleted “%(title)s”.") % {"title": title})
        return redirect("snapshots:library")
    return render(
        request,
        "snapshots/link_delete.html",
        {"link": link, "snapshot_count": link.snapshots.count()},
    )


@require_GET
def link_compare(request: HttpRequest, pk: int) -> HttpResponse:
    """What changed between two captured snapshots of a link (their main text, sentence by sentence)."""
    link = access.link_read(request, pk)
    succeeded = list(
        link.snapshots.filter(status=Snapshot.Status.SUCCEEDED).only(
            "pk", "requested", "finished", "status", "size", "link_id"
        )
    )
    by_id = {snapshot.pk: snapshot for snapshot in succeeded}
    if "a" in request.GET or "b" in request.GET:
        form = CompareForm(request.GET)
    elif len(succeeded) >= 2:
        form = CompareForm({"a": succeeded[1].pk, "b": succeeded[0].pk})
    else:
        form = CompareForm()
    before = after = diff = None
    if form.is_bound and form.is_valid():
        a, b = form.cleaned_data["a"], form.cleaned_data["b"]
        if a not in by_id or b not in by_id:
            form.add_error(None, _("Choose two captured snapshots of this link."))
        elif a == b:
            form.add_error(None, _("Choose two different snapshots."))
        else:
            texts = dict(Snapshot.objects.filter(pk__in=[a, b]).values_list("pk", "text"))
            before, after = by_id[a], by_id[b]
            diff = diff_texts(texts[a] or "", texts[b] or "")
    return render(
        request,
        "snapshots/link_compare.html",
        {
            "link": link,
            "form": form,
            "succeeded": succeeded,
            "before": before,
            "after": after,
            "diff": diff,
        },
    )
