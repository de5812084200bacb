"""Saving links: per-user dedupe, tags, edits, bulk edits and deletion.

Every write to a link goes through here, so the search index (snapshots.search) and the capture
queue (snapshots.tasks.snapshot_request) stay in step with the rows. What a URL or a
tag name becomes once saved is decided in snapshots.normalize.

Concurrent writes: tags and links are got-or-created so that a parallel request making the same
row is found, not a 500; every service takes its locks in one order (tag rows, by name; the
link's row; its tagged items and search entry; the revision row last, see snapshots.revision);
and a deadlock or serialization failure the database still reports is tried again
(``atomic_retrying``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.db import DatabaseError, IntegrityError, OperationalError, transaction
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
# A transaction the database broke off (deadlock, serialization failure) is tried this often.
WRITE_ATTEMPTS = 4
# PostgreSQL's serialization_failure and deadlock_detected.
_RETRIED_SQLSTATES = {"40001", "40P01"}

logger = logging.getLogger(__name__)
T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Transactions that survive a conflict


def _conflict(error: DatabaseError) -> bool:
    """A deadlock, a serialization failure, or SQLite's busy database: worth another try."""
    cause = error.__cause__
    state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return state in _RETRIED_SQLSTATES or (
        isinstance(error, OperationalError) and "database is locked" in str(error)
    )


def atomic_retrying(write: Callable[[], T]) -> T:
    """Run ``write`` in a transaction; again, a few times, if the database broke it off.

    Inside a caller's transaction there is nothing to retry (the whole transaction is lost), so
    the error goes up as it came.
    """
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return write()
        except (OperationalError, DatabaseError) as error:
            if (
                attempt == WRITE_ATTEMPTS
                or transaction.get_connection().in_atomic_block
                or not _conflict(error)
            ):
                raise
            logger.info("write broken off by the database (%s); trying again", error)
            time.sleep(random.uniform(0.01, 0.05) * attempt)  # noqa: S311 (jitter, not secrets)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------
# Tags


def tags_for_names(names: Iterable[str]) -> dict[str, Tag]:
    """Existing-or-new Tag for each name, matched case-insensitively (keys are casefolded names).

    Called first in a transaction (tag rows come first in the lock order), new tags made in the
    order of their names; one a parallel request made a moment ago is found, not an error.
    """
    wanted = {name.casefold(): name for name in names}
    if not wanted:
        return {}
    found = _existing_tags(wanted.values())
    for key in sorted(set(wanted) - set(found)):
        name = wanted[key]
        check_new_tag(name)
        try:
            with transaction.atomic():
                # Tag.save() finds a free slug (Chinese names keep Unicode slugs).
                found[key] = Tag.objects.create(name=name)
        except IntegrityError:
            # Made by a parallel request that committed while this one waited for it.
            found[key] = _existing_tags([name])[key]
    return found


def _existing_tags(names: Iterable[str]) -> dict[str, Tag]:
    found: dict[str, Tag] = {}
    spellings = list(names)
    # In batches: an import may name thousands of tags, more than one query may carry.
    for start in range(0, len(spellings), 500):
        for tag in tags_named(spellings[start : start + 500]).order_by("id"):
            found.setdefault(tag.name.casefold(), tag)
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
    # A parallel request may tag the same link the same way: one row, no IntegrityError.
    TaggedItem.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return len(rows)


def remove_tags_from_links(link_ids: list[int], names: list[str]) -> int:
    if not link_ids or not names:
        return 0
    deleted, _detail = TaggedItem.objects.filter(
        tag__in=tags_named(names), content_type=link_content_type(), object_id__in=link_ids
    ).delete()
    return deleted


def _set_tags(link: Link, wanted: dict[str, Tag]) -> None:
    """Replace the link's tags with these (from ``tags_for_names``, taken before the link's row)."""
    content_type = link_content_type()
    wanted_ids = {tag.id for tag in wanted.values()}
    current = TaggedItem.objects.filter(content_type=content_type, object_id=link.pk)
    current.exclude(tag_id__in=wanted_ids).delete()
    have = set(current.values_list("tag_id", flat=True))
    TaggedItem.objects.bulk_create(
        [
            TaggedItem(content_type=content_type, object_id=link.pk, tag=tag)
            for tag in wanted.values()
            if tag.id not in have
        ],
        ignore_conflicts=True,
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
    priority: int = Snapshot.Priority.ASKED,
) -> tuple[Link, bool]:
    """Save a link for `owner`, or find the one already saved under the same normalized URL.

    Returns (link, created). For an existing link the new tags are added (nothing else changes) and,
    if `capture`, a new capture is queued — "saving again" means "capture again". New links are
    queued for capture too (the task is enqueued when the transaction commits), ahead of bulk
    work: a person saving a link waits for it (``priority``).
    """
    normalized = normalize_url(url)
    names = link_tags(tags)
    title = _clean_title(title)
    notes = clean_text(notes)

    def write() -> tuple[Link, bool]:
        with revision.bump_at_end():
            wanted = tags_for_names(names)
            link = (
                Link.objects.select_for_update()
                .filter(owner=owner, normalized_url=normalized)
                .first()
            )
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
                    link = Link.objects.select_for_update().get(
                        owner=owner, normalized_url=normalized
                    )
            if wanted:
                if created:
                    _set_tags(link, wanted)
                else:
                    add_tags_to_links([link.pk], names)
            search.reindex_link(link.pk)
        if capture:
            snapshot_request(link=link, priority=priority)
        return link, created

    link, created = atomic_retrying(write)
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
    wanted_tags = link_tags(fields["tags"] or ()) if "tags" in fields else None
    with transaction.atomic(), revision.bump_at_end():
        wanted = tags_for_names(wanted_tags) if wanted_tags else {}  # tag rows before the link's
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
        if wanted_tags is not None:
            _set_tags(link, wanted)
        search.reindex_link(link.pk)
    return link


def link_delete(*, link: Link) -> None:
    """Delete the link, its snapshots (freeing blobs nobody else uses) and its search entry."""
    with transaction.atomic(), revision.bump_at_end():
        Link.objects.filter(pk=link.pk).update(latest_snapshot=None)
        for snapshot in list(Snapshot.objects.filter(link=link)):
            snapshot_delete(snapshot=snapshot)
        TaggedItem.objects.filter(content_type=link_content_type(), object_id=link.pk).delete()
        search.remove_links([link.pk])
        link.delete()


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
    with transaction.atomic(), revision.bump_at_end():
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
            # Many links at once: they wait behind the captures people asked for one by one.
            for link in links:
                snapshot_request(link=link, priority=Snapshot.Priority.BULK)
        elif action == BulkAction.DELETE:
            for link in list(links):
                link_delete(link=link)
    return len(ids)


__all__ = [
    "add_tags_to_links",
    "link_create",
    "link_delete",
    "link_update",
    "links_bulk_edit",
]
