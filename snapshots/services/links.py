"""Saving links: per-user dedupe, tags, edits, bulk edits and deletion.

Every write to a link goes through here, so the search index (snapshots.search) and the capture
queue (snapshots.tasks.snapshot_request) stay in step with the rows. What a URL or a
tag name becomes once saved is decided in snapshots.normalize.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from taggit.models import Tag, TaggedItem

from snapshots import revision, search
from snapshots.choices import TAG_ACTIONS, BulkAction
from snapshots.models import Link, Snapshot, link_content_type
from snapshots.normalize import (
    LinkError,
    check_new_tag,
    clean_text,
    domain_of,
    link_tags,
    normalize_url,
)
from snapshots.queries import tags_named
from snapshots.services.archives import snapshot_delete
from snapshots.tasks import snapshot_request

MAX_TITLE_LENGTH = 500


# ---------------------------------------------------------------------------------------------
# Tags


def tags_for_names(names: Iterable[str]) -> dict[str, Tag]:
    """Existing-or-new Tag for each name, matched case-insensitively (keys are casefolded names)."""
    wanted = {name.casefold(): name for name in names}
    if not wanted:
        return {}
    found: dict[str, Tag] = {}
    spellings = list(wanted.values())
    # In batches: an import may name thousands of tags, more than one query may carry.
    for start in range(0, len(spellings), 500):
        for tag in tags_named(spellings[start : start + 500]).order_by("id"):
            found.setdefault(tag.name.casefold(), tag)
    for key, name in wanted.items():
        if key not in found:
            check_new_tag(name)
            # Tag.save() finds a free slug (Chinese names keep Unicode slugs).
            found[key] = Tag.objects.create(name=name)
    return found


def add_tags_to_links(link_ids: list[int], names: list[str]) -> int:
    """Adds the tags to each link in a few queries; returns how many (link, tag) pairs were new."""
    if not link_ids or not names:
        return 0
    tags = tags_for_names(names)
    content_type = link_content_type()
    existing = set(
        TaggedItem.objects.filter(
            content_type=content_type, object_id__in=link_ids, tag__in=tags.values()
        ).values_list("object_id", "tag_id")
    )
    rows = [
        TaggedItem(content_type=content_type, object_id=link_id, tag=tag)
        for link_id in link_ids
        for tag in tags.values()
        if (link_id, tag.id) not in existing
    ]
    TaggedItem.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def remove_tags_from_links(link_ids: list[int], names: list[str]) -> int:
    if not link_ids or not names:
        return 0
    deleted, _detail = TaggedItem.objects.filter(
        tag__in=tags_named(names), content_type=link_content_type(), object_id__in=link_ids
    ).delete()
    return deleted


def _set_tags(link: Link, names: list[str]) -> None:
    """Replace the link's tags with these names (case-insensitive match to existing tags)."""
    content_type = link_content_type()
    wanted = tags_for_names(names)
    wanted_ids = {tag.id for tag in wanted.values()}
    current = TaggedItem.objects.filter(content_type=content_type, object_id=link.pk)
    current.exclude(tag_id__in=wanted_ids).delete()
    have = set(current.values_list("tag_id", flat=True))
    TaggedItem.objects.bulk_create(
        [
            TaggedItem(content_type=content_type, object_id=link.pk, tag=tag)
            for tag in wanted.values()
            if tag.id not in have
        ]
    )


# ---------------------------------------------------------------------------------------------
# Create, update, delete


def _clean_title(title: str) -> str:
    title = clean_text(title).strip()
    if len(title) > MAX_TITLE_LENGTH:
        raise LinkError(
            _("The title is too long: at most %(max)d characters.") % {"max": MAX_TITLE_LENGTH}
        )
    return title


def _lock(link: Link) -> None:
    """Hold the link's row for this transaction; Link.DoesNotExist once a parallel request deleted it
    (a plain save() would insert it again)."""
    if not Link.objects.select_for_update().filter(pk=link.pk).exists():
        raise Link.DoesNotExist(_("No such link."))


def link_create(
    *,
    owner,
    url: str,
    tags: Iterable[str] = (),
    title: str = "",
    notes: str = "",
    private: bool = True,
    capture: bool = True,
) -> tuple[Link, bool]:
    """Save a link for `owner`, or find the one already saved under the same normalized URL.

    Returns (link, created). For an existing link the new tags are added (nothing else changes) and,
    if `capture`, a new capture is queued — "saving again" means "capture again". New links are
    queued for capture too (the task is enqueued when the transaction commits).
    """
    normalized = normalize_url(url)
    names = link_tags(tags)
    title = _clean_title(title)
    notes = clean_text(notes)
    with transaction.atomic():
        link = Link.objects.filter(owner=owner, normalized_url=normalized).first()
        created = False
        if link is None:
            try:
                with transaction.atomic():
                    link = Link.objects.create(
                        owner=owner,
                        url=normalized,
                        normalized_url=normalized,
                        domain=domain_of(normalized),
                        title=title,
                        notes=notes,
                        private=bool(private),
                    )
                created = True
            except IntegrityError:
                # Saved a moment ago by a parallel request: that one is the link.
                link = Link.objects.get(owner=owner, normalized_url=normalized)
        if names:
            if created:
                _set_tags(link, names)
            else:
                add_tags_to_links([link.pk], names)
        search.reindex_link(link.pk)
        revision.bump()
        if capture:
            snapshot_request(link=link)
    link.refresh_from_db()
    return link, created


EDITABLE_FIELDS = {"url", "title", "notes", "private", "unread", "tags", "description"}


def link_update(*, link: Link, **fields) -> Link:
    """Change a link: url, title, notes, description, private, unread, tags (replaces all tags).

    A new URL is normalized and must not be a twin of another of the owner's links (LinkError).
    """
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise LinkError(
            _("These fields cannot be changed: %(fields)s.")
            % {"fields": ", ".join(sorted(unknown))}
        )
    with transaction.atomic():
        _lock(link)
        if "url" in fields:
            normalized = normalize_url(fields["url"])
            twin = (
                Link.objects.filter(owner_id=link.owner_id, normalized_url=normalized)
                .exclude(pk=link.pk)
                .exists()
            )
            if twin:
                raise LinkError(_("You have already saved this URL as another link."))
            link.url = normalized
            link.normalized_url = normalized
            link.domain = domain_of(normalized)
        if "title" in fields:
            link.title = _clean_title(fields["title"])
        if "notes" in fields:
            link.notes = clean_text(fields["notes"])
        if "description" in fields:
            link.description = clean_text(fields["description"])
        if "private" in fields:
            link.private = bool(fields["private"])
        if "unread" in fields:
            link.unread = bool(fields["unread"])
        link.save()
        if "tags" in fields:
            _set_tags(link, link_tags(fields["tags"] or ()))
        search.reindex_link(link.pk)
        revision.bump()
    return link


def link_delete(*, link: Link) -> None:
    """Delete the link, its snapshots (freeing blobs nobody else uses) and its search entry."""
    with transaction.atomic():
        Link.objects.filter(pk=link.pk).update(latest_snapshot=None)
        for snapshot in list(Snapshot.objects.filter(link=link)):
            snapshot_delete(snapshot=snapshot)
        TaggedItem.objects.filter(content_type=link_content_type(), object_id=link.pk).delete()
        search.remove_links([link.pk])
        link.delete()
        revision.bump()


def links_bulk_edit(
    *, owner, link_ids: Iterable[int], action: str, tags: Iterable[str] = ()
) -> int:
    """Apply one action to a selection of the owner's links; returns how many links it touched.

    Ids of links that are not the owner's are ignored (never an error that leaks their existence).
    """
    if action not in BulkAction.values:
        raise LinkError(_("Unknown bulk action: %(action)s.") % {"action": action})
    try:
        wanted = {int(i) for i in link_ids}
    except (TypeError, ValueError) as exc:
        raise LinkError(_("Link ids must be numbers.")) from exc
    ids = list(
        Link.objects.filter(owner=owner, pk__in=wanted).order_by("pk").values_list("pk", flat=True)
    )
    if not ids:
        return 0
    names = link_tags(tags)
    if action in TAG_ACTIONS and not names:
        raise LinkError(_("Enter at least one tag."))
    links = Link.objects.filter(pk__in=ids)
    with transaction.atomic():
        if action == BulkAction.ADD_TAGS:
            add_tags_to_links(ids, names)
            search.reindex_links(ids)
        elif action == BulkAction.REMOVE_TAGS:
            remove_tags_from_links(ids, names)
            search.reindex_links(ids)
        elif action in (BulkAction.MARK_READ, BulkAction.MARK_UNREAD):
            links.update(unread=action == BulkAction.MARK_UNREAD)
        elif action in (BulkAction.MAKE_PRIVATE, BulkAction.MAKE_PUBLIC):
            links.update(private=action == BulkAction.MAKE_PRIVATE)
        elif action == BulkAction.CAPTURE:
            for link in links:
                snapshot_request(link=link)
        elif action == BulkAction.DELETE:
            for link in list(links):
                link_delete(link=link)
        revision.bump()
    return len(ids)


__all__ = [
    "add_tags_to_links",
    "link_create",
    "link_delete",
    "link_update",
    "links_bulk_edit",
]
