"""Who may see and change what (ARCHITECTURE §4): the one place pages, archives and the API ask.

A user sees their own links plus links others made public; anonymous visitors see public links
only; only the owner changes a link. ``visible_links`` is that rule for listings. The ``*_read``
and ``*_write`` functions answer a link or snapshot the user may not see (or change) with
``Http404``, exactly like one that does not exist, so its existence does not leak; pages show
their 404 page, and the API answers ``{"error": sentence}`` with a 404 (kb/api.py).
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import IntegrityError
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _

from kb.api_auth import ApiError, optional_user
from snapshots.models import Link, Snapshot

# Larger ids than this are no row's (and beyond what the databases' integers hold): 404 at once.
MAX_ID = 2**62
# Who a request is from: signed_in_user (pages), archive_viewer, kb.api_auth.optional_user (API).
Viewer = Callable[[HttpRequest], object]


def visible_links(user) -> QuerySet[Link]:
    """A user sees their own links and links others made public; anonymous visitors, public ones."""
    if user is not None and user.is_authenticated:
        return Link.objects.filter(Q(owner=user) | Q(private=False))
    return Link.objects.filter(private=False)


def can_edit(user, link: Link) -> bool:
    return user is not None and user.is_authenticated and link.owner_id == user.pk


def signed_in_user(request: HttpRequest):
    """Who a page's request is from: the session's user (anonymous or not)."""
    return request.user


def archive_viewer(request: HttpRequest):
    """Who asks for an archive (or its icon): the signed-in user, or the owner of the Bearer token
    an API client sends when it follows ``archive_url`` (ARCHITECTURE §6); None for anyone else,
    a token that is not valid included."""
    try:
        return optional_user(request)
    except ApiError:
        return None


# What a page shows with the link or snapshot it reads, unless the caller says (``details``).
def _link_page_details(links: QuerySet[Link]) -> QuerySet[Link]:
    return links.select_related("latest_snapshot", "owner")


def _snapshot_page_details(snapshots: QuerySet[Snapshot]) -> QuerySet[Snapshot]:
    return snapshots.select_related("link", "archive")


def link_read(
    request: HttpRequest, link_id: int, *, viewer: Viewer = signed_in_user, details=None
) -> Link:
    """The link, with ``details(links)``, if the ``viewer`` of the request may see it."""
    links = visible_links(viewer(request))
    if 1 <= link_id <= MAX_ID:
        link = (details or _link_page_details)(links).filter(pk=link_id).first()
        if link is not None:
            return link
    raise Http404(_("No such link."))


def link_write(request: HttpRequest, link_id: int) -> Link:
    """The link, if it is the signed-in user's own (session or API token): only its owner
    changes or deletes a link."""
    user = request.user
    link = None
    if user.is_authenticated and 1 <= link_id <= MAX_ID:
        link = Link.objects.select_related("latest_snapshot").filter(pk=link_id, owner=user).first()
    if link is None:
        raise Http404(_("No such link."))
    return link


@contextmanager
def link_kept(link_id: int) -> Iterator[None]:
    """Answer Http404 (not a 500) when a parallel request deleted the link while this one wrote to
    it: the row or its foreign key is gone (DoesNotExist, IntegrityError), as if never there."""
    try:
        yield
    except (Link.DoesNotExist, Snapshot.DoesNotExist, IntegrityError) as exc:
        if Link.objects.filter(pk=link_id).exists():
            raise
        raise Http404(_("No such link.")) from exc


def snapshot_read(
    request: HttpRequest, snapshot_id: int, *, viewer: Viewer = signed_in_user, details=None
) -> Snapshot:
    """The snapshot, with ``details(snapshots)``, if the ``viewer`` of the request may see its
    link. (An id out of range is answered before the viewer is asked, as it always was.)"""
    snapshot = None
    if 1 <= snapshot_id <= MAX_ID:
        snapshots = (details or _snapshot_page_details)(Snapshot.objects.all())
        snapshot = snapshots.filter(pk=snapshot_id, link__in=visible_links(viewer(request))).first()
    if snapshot is None:
        raise Http404(_("No such snapshot."))
    return snapshot
