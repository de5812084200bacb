"""The library: every link the reader may see, filtered, searched and paged; tag pages; bulk edit."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import TypedDict
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST
from taggit.models import Tag

from kb.models import UserSettings
from snapshots.access import visible_links
from snapshots.choices import BulkAction, CaptureState, Sort, Visibility
from snapshots.forms import LINKS_PER_PAGE, BulkEditForm
from snapshots.library_pages import LibraryPaginator
from snapshots.models import Link, Snapshot
from snapshots.normalize import TAG_SEPARATORS, LinkError, tag_sort_key
from snapshots.queries import (
    LibraryFilters,
    link_excerpts,
    own_tag_names,
    tags_named,
)
from snapshots.services.links import links_bulk_edit
from snapshots.templatetags.library_tags import (
    avatar_hue,
    avatar_letter,
    query_adding,
    query_without,
)

# How many tags the library offers as quick filters (those on the page shown, most used first).
TAG_FACETS = 30


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
    ranked = sorted(counts.items(), key=lambda item: (-item[1], tag_sort_key(names[item[0]])))
    ranked = ranked[:TAG_FACETS]
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
    thumbnail_url: str  # the capture's picture (screenshot or lead image) kb stored; "" when none
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


def _newest_captures(links: list[Link]) -> dict[int, Snapshot]:
    """Each link's newest succeeded snapshot (only what a row shows of it: icon and picture).

    A row's pictures come from its newest capture; where that one is queued or failed, from the
    one before that succeeded: a re-capture that fails because the page has gone keeps the link's
    pictures, as it keeps its title. One query for the page's rows, none when all are captured.
    """
    waiting = [
        link.pk
        for link in links
        if link.latest_snapshot is not None
        and link.latest_snapshot.status != Snapshot.Status.SUCCEEDED
    ]
    if not waiting:
        return {}
    newest = (
        Snapshot.objects.filter(link=OuterRef("pk"), status=Snapshot.Status.SUCCEEDED)
        .order_by("-requested", "-id")
        .values("pk")[:1]
    )
    chosen = Link.objects.filter(pk__in=waiting).annotate(capture=Subquery(newest))
    found = Snapshot.objects.filter(pk__in=chosen.values("capture")).only(
        "pk", "link_id", "icon_sha256", "image_sha256", "screenshot_sha256"
    )
    return {snapshot.link_id: snapshot for snapshot in found}


def _library_rows(
    links: list[Link], excerpts: dict[int, str], user, query: QueryDict
) -> list[LibraryRow]:
    detail_pattern = reverse("snapshots:link_detail", args=[0])
    icon_pattern = reverse("snapshots:snapshot_icon", args=[0])
    image_pattern = reverse("snapshots:snapshot_image", args=[0, "0" * 64])
    # every row's domain link: the current filters with this domain instead of any other
    domain_base = query_without(query, "domain")
    domain_base += "&" if len(domain_base) > 1 else ""
    dates: dict[date, str] = {}
    select_label = _("Select “%(title)s”")
    by_label = _("by %(name)s")
    statuses = dict(CaptureState.choices)
    signed_in = user.is_authenticated
    earlier = _newest_captures(links)
    rows = []
    for link in links:
        created = timezone.localtime(link.created)
        day = created.date()
        if day not in dates:
            dates[day] = formats.date_format(created, "DATE_FORMAT")
        status = link.latest_snapshot.status if link.latest_snapshot else CaptureState.NONE.value
        # the capture whose pictures the row shows (not necessarily the newest: see above)
        snapshot = earlier.get(link.pk, link.latest_snapshot)
        own = signed_in and link.owner_id == user.pk
        thumbnail = snapshot.thumbnail_sha256 if snapshot else ""
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
                thumbnail_url=image_pattern.replace("/0/", f"/{snapshot.pk}/", 1).replace(
                    "0" * 64, thumbnail
                )
                if thumbnail
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


def _page_turns(sort: str) -> tuple[str, str]:
    """The words on the previous/next page links: "newer"/"older" only where the list is by date."""
    if sort == Sort.NEWEST:
        return _("← Newer"), _("Older →")
    if sort == Sort.OLDEST:
        return _("← Older"), _("Newer →")
    return _("← Previous"), _("Next →")


def _render_library(request: HttpRequest, *, tag_page: Tag | None = None) -> HttpResponse:
    filters = LibraryFilters.from_query(request.GET)
    if filters.notice:
        messages.error(request, filters.notice)
    for problem in filters.search.problems:
        messages.error(request, problem)
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
    library_view = request.kb_settings.library_view
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
            "own_tags": own_tag_names(user),
            "saved_searches": list(user.saved_searches.all()) if user.is_authenticated else [],
            "tag_separators": TAG_SEPARATORS,
            "bulk_actions": BulkAction.choices,
            "sorts": Sort.choices,
            "page_turns": _page_turns(filters.sort),
            "states": CaptureState.choices,
            "visibilities": Visibility.choices,
            "library_view": library_view,
            "library_views": UserSettings.LibraryView.choices,
            "show_pictures": library_view == UserSettings.LibraryView.VISUAL,
        },
    )


@require_GET
def library(request: HttpRequest) -> HttpResponse:
    return _render_library(request)


@require_GET
def tag_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A tag's page: the library filtered by it, shareable, public links only for anonymous visitors."""
    tag = Tag.objects.filter(slug=slug).first()
    # A tag only others' private links carry is as unknown as one nobody uses: its name is theirs.
    if (
        tag is None
        or not visible_links(request.user).filter(tags__in=tags_named([tag.name])).exists()
    ):
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
