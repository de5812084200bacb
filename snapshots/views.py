"""Library pages. Thin: validate a form, call one service or query, render.

Who sees what is decided in `snapshots.access`; every write here
is a POST (CSRF-checked by the middleware) from a signed-in user on their own links — anyone else's link
answers 404, exactly like a link that does not exist.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import date
from typing import TypedDict
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from taggit.models import Tag

from kb.markdown import render_markdown
from snapshots import access
from snapshots.choices import BulkAction, CaptureState, Sort, Visibility
from snapshots.forms import (
    LINKS_PER_PAGE,
    BulkEditForm,
    CompareForm,
    ExportForm,
    ImportForm,
    LinkEditForm,
    LinkForm,
    TagDeleteForm,
    TagMergeForm,
    TagRenameForm,
)
from snapshots.models import Link, Snapshot
from snapshots.normalize import TAG_SEPARATORS, LinkError
from snapshots.queries import (
    LibraryFilters,
    LibraryPaginator,
    library_links,
    link_excerpts,
    tag_counts,
)
from snapshots.services.diff import diff_texts
from snapshots.services.exporter import export_archive_zip, export_bookmarks
from snapshots.services.importer import import_bookmarks
from snapshots.services.links import (
    link_create,
    link_delete,
    link_update,
    links_bulk_edit,
)
from snapshots.services.tags import tag_delete, tag_merge, tag_rename
from snapshots.tasks import snapshot_request
from snapshots.templatetags.library_tags import (
    avatar_hue,
    avatar_letter,
    query_adding,
    query_without,
)

# How many tags the library offers as quick filters (those on the page shown, most used first).
TAG_FACETS = 30
# Autocomplete lists at most this many of the user's tags.
TAG_SUGGESTIONS = 1000


def _own_tag_names(user) -> list[str]:
    """The user's own tags, for the autocomplete <datalist> of tag fields.

    An EXISTS per tag rather than counting the user's tagged links: it stops at the first link
    found, so it stays a few milliseconds with 100,000 links where a count takes a second.
    """
    if not user.is_authenticated:
        return []
    used = Link.objects.filter(owner=user, tags=OuterRef("pk"))
    return list(
        Tag.objects.filter(Exists(used))
        .order_by("name")
        .values_list("name", flat=True)[:TAG_SUGGESTIONS]
    )


def _page_tag_facets(links: list[Link], chosen: set[str]) -> list[dict]:
    """Tags on the links shown, most frequent first: filters that narrow what is on screen.

    Read from the page's prefetched tags, so no query; counting a tag over the whole library
    would cost a scan of every tagged link on each page view.
    """
    counts: Counter = Counter()
    names: dict[str, str] = {}
    for link in links:
        for name in link.tag_names:
            key = name.casefold()
            if key in chosen:
                continue
            counts[key] += 1
            names.setdefault(key, name)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TAG_FACETS]
    return [{"name": names[key], "count": count} for key, count in ranked]


class LibraryRow(TypedDict):
    """What one row of the library shows, worked out in Python.

    A 50-row page rendered through per-row template tags, filters and lookups cost ~0.8 ms a row
    (measured): most of the page's time. Here each value is computed once, memoised where rows
    share it (dates, the detail URL pattern), and the template only writes them out. A dict,
    because the template engine tries a key lookup before an attribute for every ``row.x``.
    """

    link: Link
    pk: str  # a string: the template would localise an int on every use
    title: str
    detail_url: str
    domain: str
    domain_url: str
    avatar_letter: str
    avatar_hue: int
    icon_url: str  # the captured page icon, shown instead of the letter avatar; "" when none
    created_iso: str
    created_label: str
    status: str  # pending | running | succeeded | failed | none
    status_label: str
    private: bool
    selectable: bool  # the viewer owns it: bulk edit may select it
    unread: bool  # shown to its owner only
    select_label: str  # what a screen reader says for the row's checkbox
    by: str  # "by <owner>", for someone else's link
    excerpt: str
    tags: list[tuple[str, str]]  # (name, URL of the library narrowed by it)


def _library_rows(
    links: list[Link], excerpts: dict[int, str], user, query: QueryDict
) -> list[LibraryRow]:
    detail_pattern = reverse("snapshots:link_detail", args=[0])
    icon_pattern = reverse("snapshots:snapshot_icon", args=[0])
    # every row's domain link: the current filters with this domain instead of any other
    domain_base = query_without(query, "domain")
    domain_base += "&" if len(domain_base) > 1 else ""
    dates: dict[date, str] = {}
    select_label = _("Select “%(title)s”")
    by_label = _("by %(name)s")
    statuses = dict(CaptureState.choices)
    signed_in = user.is_authenticated
    rows = []
    for link in links:
        created = timezone.localtime(link.created)
        day = created.date()
        if day not in dates:
            dates[day] = formats.date_format(created, "DATE_FORMAT")
        snapshot = link.latest_snapshot
        status = snapshot.status if snapshot else CaptureState.NONE.value
        own = signed_in and link.owner_id == user.pk
        rows.append(
            LibraryRow(
                link=link,
                pk=str(link.pk),
                title=link.display_title,
                detail_url=detail_pattern.replace("/0/", f"/{link.pk}/"),
                domain=link.domain,
                domain_url=f"{domain_base}domain={quote(link.domain, safe='')}",
                avatar_letter=avatar_letter(link.domain),
                avatar_hue=avatar_hue(link.domain),
                icon_url=icon_pattern.replace("/0/", f"/{snapshot.pk}/")
                if snapshot and snapshot.icon_sha256
                else "",
                created_iso=created.isoformat(),
                created_label=dates[day],
                status=status,
                status_label=statuses.get(status, status),
                private=link.private,
                selectable=own,
                select_label=select_label % {"title": link.display_title} if own else "",
                unread=own and link.unread,
                by="" if own else by_label % {"name": link.owner.get_username()},
                excerpt=excerpts.get(link.pk, ""),
                tags=[(name, query_adding(query, "tag", name)) for name in link.tag_names],
            )
        )
    return rows


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


# --- the library ------------------------------------------------------------------------------


def _filter_chips(filters: LibraryFilters, tag_page: str | None) -> list[dict]:
    """The active filters as removable chips: what each says, and the parameter to drop."""
    chips = []
    if filters.q:
        chips.append({"label": _("Search: %(q)s") % {"q": filters.q}, "key": "q"})
    for tag in filters.tags:
        if tag != tag_page:
            chips.append({"label": _("Tag: %(tag)s") % {"tag": tag}, "key": "tag", "value": tag})
    if filters.domain:
        chips.append({"label": _("Domain: %(d)s") % {"d": filters.domain}, "key": "domain"})
    if filters.state:
        label = CaptureState(filters.state).label
        chips.append({"label": _("Capture: %(s)s") % {"s": label}, "key": "state"})
    if filters.visibility:
        chips.append({"label": Visibility(filters.visibility).label, "key": "visibility"})
    if filters.unread is not None:
        chips.append({"label": _("Unread") if filters.unread else _("Read"), "key": "unread"})
    return chips


def _render_library(request: HttpRequest, *, tag_page: Tag | None = None) -> HttpResponse:
    filters = LibraryFilters.from_query(request.GET)
    if tag_page is not None and tag_page.name.casefold() not in {
        t.casefold() for t in filters.tags
    }:
        filters.tags = [tag_page.name, *filters.tags]
    page = LibraryPaginator(request.user, filters, LINKS_PER_PAGE).get_page(filters.page)
    page_links = list(page.object_list)
    excerpts = link_excerpts(page_links, filters.q) if filters.q and page_links else {}
    user = request.user
    rows = _library_rows(page_links, excerpts, user, request.GET)
    chosen = {name.casefold() for name in filters.tags}
    return render(
        request,
        "snapshots/library.html",
        {
            "filters": filters,
            "chips": _filter_chips(filters, tag_page.name if tag_page else None),
            "page": page,
            "rows": rows,
            "owns_any": any(row["selectable"] for row in rows),
            # said on many rows: translated once
            "private_label": _("private"),
            "unread_label": _("unread"),
            "tags_label": _("Tags"),
            "tag_facets": _page_tag_facets(page_links, chosen),
            "tag_page": tag_page,
            "own_tags": _own_tag_names(user),
            "tag_separators": TAG_SEPARATORS,
            "bulk_actions": BulkAction.choices,
            "sorts": Sort.choices,
            "states": CaptureState.choices,
            "visibilities": Visibility.choices,
        },
    )


@require_GET
def library(request: HttpRequest) -> HttpResponse:
    return _render_library(request)


@require_GET
def tag_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A tag's page: the library filtered by it, shareable, public links only for anonymous visitors."""
    tag = Tag.objects.filter(slug=slug).first()
    if tag is None:
        raise Http404("no such tag")
    return _render_library(request, tag_page=tag)


@login_required
@require_POST
def links_bulk(request: HttpRequest) -> HttpResponse:
    """Apply one action to the checked links; ids of other people's links are ignored by the service."""
    back = _safe_next(request, reverse("snapshots:library"))
    form = BulkEditForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    data = form.cleaned_data
    try:
        count = links_bulk_edit(
            owner=request.user, link_ids=data["link"], action=data["action"], tags=data["tags"]
        )
    except LinkError as error:
        messages.error(request, error.message)
        return redirect(back)
    action = BulkAction(data["action"]).label
    messages.success(
        request,
        ngettext("%(action)s: %(count)d link.", "%(action)s: %(count)d links.", count)
        % {"action": action, "count": count},
    )
    return redirect(back)


# --- one link ---------------------------------------------------------------------------------


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
                "url": request.GET.get("url", "")[:2048],
                "title": request.GET.get("title", "")[:500],
                # The loss demos' "add a link about <concept>" arrives with ?tags=.
                "tags": request.GET.get("tags", "")[:500],
                "private": True,
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
        {"form": form, "own_tags": _own_tag_names(request.user), "bookmarklet": bookmarklet},
    )


def _history_context(request: HttpRequest, link: Link) -> dict:
    snapshots = list(link.snapshots.all())
    succeeded = [s for s in snapshots if s.status == Snapshot.Status.SUCCEEDED]
    return {
        "link": link,
        "snapshots": snapshots,
        "latest": snapshots[0] if snapshots else None,
        "captured": succeeded[0] if succeeded else None,
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
    # While a new capture is queued the list's title falls back to the URL; here the last captured
    # title is known, so use it.
    context["page_title"] = link.title or (captured.title if captured else "") or link.display_title
    context["icon_url"] = (
        reverse("snapshots:snapshot_icon", args=[captured.pk])
        if captured and captured.icon_sha256
        else ""
    )
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
    snapshot_request(link=link)
    messages.success(request, _("A new capture was queued."))
    return redirect("snapshots:link_detail", pk=link.pk)


@login_required
def link_edit(request: HttpRequest, pk: int) -> HttpResponse:
    link = access.link_write(request, pk)
    if request.method == "POST":
        form = LinkEditForm(request.POST)
        if form.is_valid():
            try:
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
        {"form": form, "link": link, "own_tags": _own_tag_names(request.user)},
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


# --- tags -------------------------------------------------------------------------------------


@require_GET
def tags(request: HttpRequest) -> HttpResponse:
    """Signed in: your tags with counts, to rename, merge or delete. Anonymous: the public tags."""
    user = request.user
    if user.is_authenticated:
        own = list(tag_counts(Link.objects.filter(owner=user)))
        public = []
    else:
        own = []
        public = list(tag_counts(access.visible_links(user)))
    return render(
        request,
        "snapshots/tags.html",
        {"own_tags": own, "public_tags": public, "merge_form": TagMergeForm()},
    )


def _form_errors_as_messages(request: HttpRequest, form) -> None:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)


@login_required
@require_POST
def tag_rename_view(request: HttpRequest) -> HttpResponse:
    form = TagRenameForm(request.POST)
    if not form.is_valid():
        _form_errors_as_messages(request, form)
        return redirect("snapshots:tags")
    old, new = form.cleaned_data["old"], form.cleaned_data["new"].strip()
    try:
        tag_rename(owner=request.user, old=old, new=new)
    except LinkError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Renamed “%(old)s” to “%(new)s”.") % {"old": old, "new": new})
    return redirect("snapshots:tags")


@login_required
@require_POST
def tag_merge_view(request: HttpRequest) -> HttpResponse:
    form = TagMergeForm(request.POST)
    if not form.is_valid():
        _form_errors_as_messages(request, form)
        return redirect("snapshots:tags")
    sources, target = form.cleaned_data["sources"], form.cleaned_data["target"].strip()
    try:
        tag_merge(owner=request.user, sources=sources, target=target)
    except LinkError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("Merged %(sources)s into “%(target)s”.")
            % {"sources": ", ".join(f"“{name}”" for name in sources), "target": target},
        )
    return redirect("snapshots:tags")


@login_required
def tag_delete_view(request: HttpRequest) -> HttpResponse:
    """GET ?name= asks to confirm; POST removes the tag from the user's links (the links stay)."""
    form = TagDeleteForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        _form_errors_as_messages(request, form)
        return redirect("snapshots:tags")
    name = form.cleaned_data["name"]
    if request.method == "POST":
        try:
            tag_delete(owner=request.user, name=name)
        except LinkError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Deleted the tag “%(name)s”.") % {"name": name})
        return redirect("snapshots:tags")
    count = Link.objects.filter(owner=request.user, tags__name__iexact=name).distinct().count()
    if not count:
        raise Http404("no such tag among your links")
    return render(
        request, "snapshots/tag_delete.html", {"name": name, "count": count, "form": form}
    )


# --- import and export ------------------------------------------------------------------------


@login_required
def links_import(request: HttpRequest) -> HttpResponse:
    """Upload a Netscape bookmarks file. A malformed file imports nothing and says why."""
    result = None
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                result = import_bookmarks(
                    owner=request.user,
                    data=form.cleaned_data["file"].read(),
                    private_default=form.cleaned_data["private"],
                )
            except LinkError as error:
                form.add_error("file", error.message)
            else:
                form = ImportForm(initial={"private": form.cleaned_data["private"]})
    else:
        form = ImportForm(initial={"private": True})
    return render(request, "snapshots/links_import.html", {"form": form, "result": result})


@login_required
@require_GET
def links_export(request: HttpRequest) -> HttpResponse:
    """The export page; with ?format=html|zip, the download itself (the user's own links)."""
    if "format" not in request.GET:
        return render(
            request,
            "snapshots/links_export.html",
            {
                "form": ExportForm(initial={"format": "html", "tag": request.GET.getlist("tag")}),
                "own_tags": _own_tag_names(request.user),
                "count": Link.objects.filter(owner=request.user).count(),
            },
        )
    form = ExportForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "snapshots/links_export.html",
            {"form": form, "own_tags": _own_tag_names(request.user)},
            status=400,
        )
    filters = LibraryFilters(tags=form.cleaned_data["tag"])
    links = (
        library_links(request.user, filters).filter(owner=request.user).order_by("-created", "-id")
    )
    stamp = date.today().isoformat()
    if form.cleaned_data["format"] == "zip":
        # Spooled: small archives stay in memory, large ones go to a temporary file, never all in RAM.
        stream = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115
        export_archive_zip(links=links, stream=stream)
        stream.seek(0)
        return FileResponse(
            stream,
            as_attachment=True,
            filename=f"kb-archive-{stamp}.zip",
            content_type="application/zip",
        )
    response = HttpResponse(export_bookmarks(links=links), content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="kb-bookmarks-{stamp}.html"'
    return response
