"""The revision tokens: a new one is written whenever what it stands for changes.

Two tokens, two rows of one table (snapshots_library_revision, made by migrations 0004 and 0006):
- LIBRARY (row 1): links, tags, visibility and read state. Tag counts over 100,000 links and
  the library's link counts are cached under it.
- SEARCH_INDEX (row 2): the search documents (snapshots.search writes a new one with every index
  change). A search's link count is cached under both. It is a row of its own so that captures,
  which rewrite search documents, do not discard the tag counts cached under LIBRARY.

A token changes in the same transaction as the data, so every process and every transaction sees
a token that matches the data it sees: a rolled-back change rolls the token back too, and a cached
result is never served for a state it was not computed from.

Library changes are caught three ways: the library services call bump() when they finish; signals
catch single-row saves and deletes of links, tags and tagged items made anywhere else (admin,
shell, tests); and `flush` (which empties tables without signals) is followed by post_migrate,
which bumps too. Bulk ORM calls that bypass signals (bulk_create, QuerySet.update) must call
bump(). The signals are connected by SnapshotsConfig.ready(), so every process that runs
django.setup() has them, whatever it imports.

Lock order: a bump locks its row until the transaction ends, so the services take it last,
after the tag rows and the link's row (``bump_at_end`` holds back the signals' bumps inside a
service and bumps once when it finishes). One order everywhere means no deadlock between, say,
a new link and an existing one both getting a brand-new tag.
"""

# The table name is a constant; the token is a parameter.
# ruff: noqa: S608

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connections, router
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save
from taggit.models import Tag, TaggedItem

from snapshots.models import Link

TABLE = "snapshots_library_revision"
LIBRARY = 1
SEARCH_INDEX = 2
# Link fields that library counts filter on: saving any of them writes a new LIBRARY token.
COUNTED_LINK_FIELDS = frozenset({"private", "owner", "owner_id", "unread", "url", "domain"})
_table_present: dict[str, bool] = {}
_held_back = threading.local()


def _available(alias: str = "default") -> bool:
    if not _table_present.get(alias):
        connection = connections[alias]
        try:
            with connection.cursor() as cursor:
                present = TABLE in connection.introspection.table_names(cursor)
        except DatabaseError:
            present = False
        if not present:
            return False  # asked again next time: the migration may run later (tests)
        _table_present[alias] = True
    return True


def current(alias: str = "default", token: int = LIBRARY) -> str | None:
    """The current token, or None if the table does not exist (then nothing is cached)."""
    if not _available(alias):
        return None
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT token FROM {TABLE} WHERE id = %s", [token])
        row = cursor.fetchone()
    return row[0] if row else None


def bump(alias: str = "default", token: int = LIBRARY) -> None:
    """Write a new token (call after a change that signals do not see)."""
    if not _available(alias):
        return
    with connections[alias].cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET token = %s WHERE id = %s", [uuid.uuid4().hex, token])


@contextmanager
def bump_at_end(alias: str = "default") -> Iterator[None]:
    """Inside a transaction: hold back the signals' bumps, and bump LIBRARY once on leaving.

    The revision row is then locked last, after every other row the service writes.
    """
    depth = getattr(_held_back, "depth", 0)
    _held_back.depth = depth + 1
    try:
        yield
    finally:
        _held_back.depth = depth
    if depth == 0:  # an outer bump_at_end bumps when it ends
        bump(alias)


def _on_row_change(sender, instance=None, using=None, update_fields=None, **kwargs) -> None:
    if str(kwargs.get("action", "post_")).startswith("pre_"):
        return
    if getattr(_held_back, "depth", 0):
        return  # bump_at_end bumps once the service has written everything
    # A capture saving its link's description or latest snapshot changes nothing a cached count
    # reads (tags, visibility, owner, unread, its address).
    if sender is Link and update_fields and not COUNTED_LINK_FIELDS & set(update_fields):
        return
    bump(using or router.db_for_write(sender))


def _on_flush(sender, using=None, **kwargs) -> None:
    if sender.name == "snapshots":
        bump(using or "default")


def connect_signals() -> None:
    """Bump on every row change of links, tags and tagged items (called by SnapshotsConfig.ready)."""
    for model in (Link, Tag, TaggedItem):
        post_save.connect(_on_row_change, sender=model, dispatch_uid=f"kb-revision-save-{model}")
        post_delete.connect(
            _on_row_change, sender=model, dispatch_uid=f"kb-revision-delete-{model}"
        )
    m2m_changed.connect(_on_row_change, sender=TaggedItem, dispatch_uid="kb-revision-m2m")
    post_migrate.connect(_on_flush, dispatch_uid="kb-revision-flush")
