"""Who may see and change what (ARCHITECTURE §4): the one place views and the API ask.

A user sees their own links plus links others made public; anonymous visitors see public links only;
only the owner changes a link. A link the caller may not see is answered exactly like one that does
not exist (404), so its existence does not leak.
"""

from django.http import Http404

from snapshots.models import Link, Snapshot
from snapshots.queries import visible_links


def can_view(user, link: Link) -> bool:
    return not link.private or (
        user is not None and user.is_authenticated and link.owner_id == user.pk
    )


def can_edit(user, link: Link) -> bool:
    return user is not None and user.is_authenticated and link.owner_id == user.pk


def visible_link_or_404(user, link_id: int) -> Link:
    link = visible_links(user).select_related("latest_snapshot", "owner").filter(pk=link_id).first()
    if link is None:
        raise Http404("no such link")
    return link


def own_link_or_404(user, link_id: int) -> Link:
    if user is None or not user.is_authenticated:
        raise Http404("no such link")
    link = Link.objects.select_related("latest_snapshot").filter(pk=link_id, owner=user).first()
    if link is None:
        raise Http404("no such link")
    return link


def visible_snapshot_or_404(user, snapshot_id: int) -> Snapshot:
    snapshot = (
        Snapshot.objects.select_related("link", "archive")
        .filter(pk=snapshot_id, link__in=visible_links(user))
        .first()
    )
    if snapshot is None:
        raise Http404("no such snapshot")
    return snapshot
