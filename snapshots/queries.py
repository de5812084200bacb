"""Read-side functions: every page that lists links filters them the same way."""

from django.db.models import Count, Q, QuerySet
from taggit.models import Tag

from snapshots.models import Link


def visible_links(user) -> QuerySet[Link]:
    """A user sees their own links and links others made public; anonymous visitors, public ones."""
    if user is not None and user.is_authenticated:
        return Link.objects.filter(Q(owner=user) | Q(private=False))
    return Link.objects.filter(private=False)


def tag_counts(links: QuerySet[Link]) -> QuerySet[Tag]:
    """Tags used by these links, each with how many of them carry it."""
    return (
        Tag.objects.filter(link__in=links)
        .annotate(count=Count("link", distinct=True))
        .order_by("-count", "name")
    )


def home_sections(user) -> dict:
    """What the home page shows: recent links and the tags in use."""
    links = visible_links(user)
    return {
        "recent_links": list(links.select_related("latest_snapshot")[:10]),
        "tag_cloud": list(tag_counts(links)[:40]),
    }


def links_for_concept(user, tags: list[str]) -> QuerySet[Link]:
    """The links this user may see that carry any of these tags (a loss-demo page's reading list).

    Tag names match case-insensitively, so "KL-Divergence" and "kl-divergence" are one concept.
    """
    if not tags:
        return Link.objects.none()
    matches = Q()
    for tag in tags:
        matches |= Q(tags__name__iexact=tag)
    ids = visible_links(user).filter(matches).values("id")
    return Link.objects.filter(id__in=ids).select_related("latest_snapshot")
