"""Reading a library bundle back (``manage.py restore``, the import page): see services.bundle.

The zip comes from anywhere, so it is checked before anything is saved, and all or nothing:

- the zip itself: a readable zip, no member name that could leave a folder (``..``, an absolute
  path, a backslash), no name twice, and within ``Limits`` (member count, each member's and the
  total unpacked size, the compression ratio a zip bomb needs) — sizes are read from the zip's
  directory and never exceeded while reading (``zipfile`` stops at the declared size);
- the manifest: its format and version, and every value's type, length and choices, each refusal
  a sentence naming the link and the field;
- every blob: present under ``blobs/<sha256>``, of the size the manifest says, and with bytes
  whose SHA-256 is its name.

Then one transaction writes links, tags, snapshots and blob rows — a blob's row and the
snapshot's reference to it exist before its bytes are stored, so nothing that cleans up unused
blobs can take them — and the bytes go in through the blob store. A failure leaves the library as
it was (bytes already stored without a row are unused and taken by the next clean-up).

Titles: a link's title is the user's own one from the manifest; captured titles stay with their
snapshots, so they are never pinned as the user's.

A zip without ``kb.json`` (an export from before bundles) has its ``bookmarks.html`` imported as a
bookmarks file: links, tags and notes, without archives.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from taggit.models import TaggedItem

from kb.messages import gettext_noop, to_json
from snapshots import revision, search
from snapshots.models import Blob, Link, Snapshot, link_content_type
from snapshots.normalize import MAX_LINK_TAGS, LinkError, domain_of, link_tags, normalize_url
from snapshots.services.archives import blob_store, page_title_refresh
from snapshots.services.bundle import BLOBS_DIR, FORMAT, MANIFEST, VERSION, snapshot_fields
from snapshots.services.importer import ImportResult, import_bookmarks, queue_captures
from snapshots.services.links import MAX_TITLE_LENGTH, add_tags_to_links, tags_for_names

__all__ = [
    "WEB_LIMITS",
    "BundleError",
    "BundleResult",
    "Limits",
    "import_library_zip",
    "is_zip",
    "restore_bundle",
]

_SHA = re.compile(r"\A[0-9a-f]{64}\Z")
_BATCH = 500
MISSING_ARCHIVE = gettext_noop(
    "The stored archive was missing when the backup was written, so it could not be restored."
)


class BundleError(LinkError):
    """The zip cannot be restored; the message is a sentence for the person who chose it."""


@dataclass(frozen=True)
class Limits:
    members: int = 2_000_000
    member_bytes: int = 2 * 2**30
    total_bytes: int = 200 * 2**30
    manifest_bytes: int = 2 * 2**30
    # Deflate packs ordinary pages 3–30 times and cannot pack beyond about 1,030 times: a member
    # packed to 1,000 times is a run of one byte (a zip bomb). Anything less is bounded by the
    # sizes above (zipfile never unpacks beyond a member's declared size), so that a real library
    # of very repetitive pages is never refused for its ratio. Asked of members over ``ratio_from``.
    ratio: int = 1000
    ratio_from: int = 1024 * 1024


# What the import page accepts (the command line takes the defaults).
WEB_LIMITS = Limits(
    members=500_000, member_bytes=512 * 2**20, total_bytes=4 * 2**30, manifest_bytes=512 * 2**20
)


@dataclass
class BundleResult(ImportResult):
    snapshots: int = 0
    blobs: int = 0
    blobs_written: int = 0
    captures_queued: int = 0
    bundle: bool = True


def is_zip(head: bytes) -> bool:
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


# ---- the zip -----------------------------------------------------------------------------------


def _safe_name(name: str) -> bool:
    if not name or "\x00" in name or "\\" in name or name.startswith("/"):
        return False
    if re.match(r"\A[A-Za-z]:", name):
        return False
    return not any(part in ("..", ".") for part in name.split("/"))


def _open_zip(source: str | IO[bytes], limits: Limits) -> tuple[zipfile.ZipFile, dict]:
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError):
        raise BundleError(_("This file is not a zip, or it is damaged or cut short.")) from None
    except OSError as exc:
        raise BundleError(
            _("The file could not be read: %(reason)s.") % {"reason": exc.strerror or exc}
        ) from None
    members: dict[str, zipfile.ZipInfo] = {}
    infos = archive.infolist()
    if len(infos) > limits.members:
        archive.close()
        raise BundleError(
            _("The zip holds %(count)d files; at most %(limit)d can be restored.")
            % {"count": len(infos), "limit": limits.members}
        )
    total = 0
    for info in infos:
        name = info.filename
        if not _safe_name(name):
            archive.close()
            raise BundleError(
                _(
                    "The zip holds a file named %(name)s, which points outside its folder: "
                    "it was not written by kb, and nothing was restored."
                )
                % {"name": repr(name[:200])}
            )
        if name in members:
            archive.close()
            raise BundleError(
                _("The zip holds two files named %(name)s: nothing was restored.")
                % {"name": repr(name[:200])}
            )
        members[name] = info
        total += info.file_size
        too_packed = info.file_size > limits.ratio_from and info.file_size > limits.ratio * max(
            info.compress_size, 1
        )
        if info.file_size > limits.member_bytes or too_packed:
            archive.close()
            raise BundleError(
                _(
                    "The zip's file %(name)s would unpack to %(size)s: too large or packed "
                    "too tightly to be a kb library (a zip bomb?). Nothing was restored."
                )
                % {"name": repr(name[:200]), "size": _size(info.file_size)}
            )
    if total > limits.total_bytes:
        archive.close()
        raise BundleError(
            _("The zip would unpack to %(size)s; at most %(limit)s can be restored.")
            % {"size": _size(total), "limit": _size(limits.total_bytes)}
        )
    return archive, members


def _size(count: int) -> str:
    if count >= 2**30:
        return f"{count / 2**30:.1f} GB"
    if count >= 2**20:
        return f"{count / 2**20:.1f} MB"
    return f"{max(1, round(count / 1024))} KB"


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        with archive.open(info) as handle:
            return handle.read(info.file_size + 1)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError):
        raise BundleError(
            _("The zip's file %(name)s is damaged: nothing was restored.")
            % {"name": repr(info.filename[:200])}
        ) from None


def _digest(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, int]:
    hasher = hashlib.sha256()
    count = 0
    try:
        with archive.open(info) as handle:
            while piece := handle.read(1024 * 1024):
                hasher.update(piece)
                count += len(piece)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError):
        raise BundleError(
            _("The zip's file %(name)s is damaged: nothing was restored.")
            % {"name": repr(info.filename[:200])}
        ) from None
    return hasher.hexdigest(), count


# ---- the manifest ------------------------------------------------------------------------------


@dataclass
class SnapshotPlan:
    values: dict[str, Any]
    blobs: list[str]
    latest: bool


@dataclass
class LinkPlan:
    url: str
    normalized: str
    title: str
    description: str
    notes: str
    tags: list[str]
    private: bool
    unread: bool
    created: datetime
    updated: datetime
    snapshots: list[SnapshotPlan] = field(default_factory=list)


@dataclass
class Plan:
    links: list[LinkPlan]
    blobs: dict[str, tuple[int, str]]
    missing: set[str]


class _Where:
    """Where in kb.json a value sits, for the sentence that refuses it."""

    def __init__(self, link: int, snapshot: int | None = None):
        self.link, self.snapshot = link, snapshot

    def refuse(self, name: str, problem: str) -> BundleError:
        if self.snapshot is None:
            text = _("kb.json, link %(link)d: “%(field)s” %(problem)s. Nothing was restored.")
        else:
            text = _(
                "kb.json, link %(link)d, snapshot %(snapshot)d: “%(field)s” %(problem)s. "
                "Nothing was restored."
            )
        return BundleError(
            text
            % {"link": self.link, "snapshot": self.snapshot or 0, "field": name, "problem": problem}
        )


def _text(data: dict, name: str, where: _Where, limit: int | None = None, default="") -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        raise where.refuse(name, _("is not text"))
    if limit is not None and len(value) > limit:
        raise where.refuse(name, _("is longer than %(limit)d characters") % {"limit": limit})
    return value


def _flag(data: dict, name: str, where: _Where, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise where.refuse(name, _("is neither true nor false"))
    return value


def _moment(data: dict, name: str, where: _Where) -> datetime:
    value = data.get(name)
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None:
        raise where.refuse(name, _("is not a date and time"))
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


def _snapshot_value(f: models.Field, value: Any, where: _Where):
    """``value`` from kb.json as the model field ``f`` keeps it, or a refusal."""
    if value is None:
        if f.null:
            return None
        raise where.refuse(f.name, _("is empty"))
    if isinstance(f, models.ForeignKey):
        if not isinstance(value, str) or not _SHA.match(value):
            raise where.refuse(f.name, _("is not a SHA-256 digest"))
        return value
    if isinstance(f, models.DateTimeField):
        moment = parse_datetime(value) if isinstance(value, str) else None
        if moment is None:
            raise where.refuse(f.name, _("is not a date and time"))
        return moment.replace(tzinfo=UTC) if timezone.is_naive(moment) else moment
    if isinstance(f, models.DateField):
        day = parse_date(value) if isinstance(value, str) else None
        if day is None:
            raise where.refuse(f.name, _("is not a date"))
        return day
    if isinstance(f, models.BooleanField):
        if not isinstance(value, bool):
            raise where.refuse(f.name, _("is neither true nor false"))
        return value
    if isinstance(f, models.IntegerField):
        if isinstance(value, bool) or not isinstance(value, int):
            raise where.refuse(f.name, _("is not a whole number"))
        try:
            f.run_validators(value)
        except ValidationError:
            raise where.refuse(f.name, _("is out of range")) from None
        return value
    if isinstance(f, models.CharField | models.TextField):
        if not isinstance(value, str):
            raise where.refuse(f.name, _("is not text"))
        if f.max_length and len(value) > f.max_length:
            raise where.refuse(
                f.name, _("is longer than %(limit)d characters") % {"limit": f.max_length}
            )
        if f.choices and value not in {choice for choice, _label in f.flatchoices}:
            raise where.refuse(f.name, _("is not one of the known values"))
        return value
    if isinstance(f, models.JSONField):
        return value
    return f.to_python(value)


def _plan(raw: bytes) -> Plan:
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BundleError(_("kb.json is not UTF-8 text: nothing was restored.")) from None
    except json.JSONDecodeError as exc:
        raise BundleError(
            _("kb.json is not valid JSON (line %(line)d): nothing was restored.")
            % {"line": exc.lineno}
        ) from None
    except RecursionError:
        raise BundleError(
            _("kb.json nests too deeply to be a kb library: nothing was restored.")
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BundleError(_("kb.json does not describe a kb library: nothing was restored."))
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(_("kb.json has no format version: nothing was restored."))
    if version > VERSION:
        raise BundleError(
            _(
                "This library was written by a newer kb (format version %(version)d); this one "
                "reads version %(known)d. Update kb, then restore it."
            )
            % {"version": version, "known": VERSION}
        )
    links, table = data.get("links"), data.get("blobs", {})
    missing = data.get("missing_blobs", [])
    if not isinstance(links, list) or not isinstance(table, dict) or not isinstance(missing, list):
        raise BundleError(_("kb.json has no list of links: nothing was restored."))

    blobs: dict[str, tuple[int, str]] = {}
    for sha, entry in table.items():
        if not _SHA.match(sha) or not isinstance(entry, dict):
            raise BundleError(
                _("kb.json names a stored blob %(name)s that is not a SHA-256 digest.")
                % {"name": repr(sha[:80])}
            )
        size, kind = entry.get("size"), entry.get("content_type", "")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise BundleError(
                _("kb.json gives blob %(sha)s no size: nothing was restored.") % {"sha": sha}
            )
        if not isinstance(kind, str):
            kind = ""
        blobs[sha] = (size, kind[:255])
    gone = {sha for sha in missing if isinstance(sha, str) and _SHA.match(sha)}

    fields = snapshot_fields()
    plans: list[LinkPlan] = []
    for number, entry in enumerate(links, start=1):
        where = _Where(number)
        if not isinstance(entry, dict):
            raise where.refuse("link", _("is not an object"))
        url = _text(entry, "url", where, limit=2048)
        try:
            normalized = normalize_url(url)
        except LinkError as exc:
            raise where.refuse("url", exc.message) from None
        tags = entry.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise where.refuse("tags", _("is not a list of names"))
        try:
            tags = link_tags(tags)
        except LinkError as exc:
            raise where.refuse("tags", exc.message) from None
        plan = LinkPlan(
            url=url,
            normalized=normalized,
            title=_text(entry, "title", where, limit=MAX_TITLE_LENGTH),
            description=_text(entry, "description", where),
            notes=_text(entry, "notes", where),
            tags=tags,
            private=_flag(entry, "private", where, True),
            unread=_flag(entry, "unread", where, True),
            created=_moment(entry, "created", where),
            updated=_moment(entry, "updated", where),
        )
        history = entry.get("snapshots", [])
        if not isinstance(history, list):
            raise where.refuse("snapshots", _("is not a list"))
        for index, item in enumerate(history, start=1):
            at = _Where(number, index)
            if not isinstance(item, dict):
                raise at.refuse("snapshot", _("is not an object"))
            values = {}
            for f in fields:
                if f.name in item:
                    values[f.attname] = _snapshot_value(f, item[f.name], at)
            used = item.get("blobs", [])
            if not isinstance(used, list) or not all(
                isinstance(sha, str) and _SHA.match(sha) for sha in used
            ):
                raise at.refuse("blobs", _("is not a list of SHA-256 digests"))
            keys = [values.get(f.attname) for f in fields if isinstance(f, models.ForeignKey)]
            for sha in [*used, *(k for k in keys if k)]:
                if sha not in blobs and sha not in gone:
                    raise at.refuse("blobs", _("names a blob the zip does not list"))
            plan.snapshots.append(
                SnapshotPlan(values=values, blobs=list(used), latest=item.get("latest") is True)
            )
        plans.append(plan)
    return Plan(links=plans, blobs=blobs, missing=gone)


def _check_blobs(archive: zipfile.ZipFile, members: dict, plan: Plan) -> None:
    for sha, (size, _kind) in plan.blobs.items():
        info = members.get(BLOBS_DIR + sha)
        if info is None:
            raise BundleError(
                _("The zip lacks the stored blob %(sha)s that kb.json lists: nothing was restored.")
                % {"sha": sha}
            )
        if info.file_size != size:
            raise BundleError(
                _(
                    "The stored blob %(sha)s in the zip has %(found)d bytes, not the %(size)d "
                    "kb.json says: nothing was restored."
                )
                % {"sha": sha, "found": info.file_size, "size": size}
            )
        found, count = _digest(archive, info)
        if found != sha or count != size:
            raise BundleError(
                _(
                    "The stored blob %(sha)s in the zip does not hold the bytes its name says "
                    "(it was changed or damaged): nothing was restored."
                )
                % {"sha": sha}
            )


# ---- restoring ---------------------------------------------------------------------------------


def restore_bundle(
    *,
    owner,
    source: str | IO[bytes],
    merge: bool = False,
    capture: bool = True,
    limits: Limits = Limits(),
    progress: Callable[[str], None] | None = None,
) -> BundleResult:
    """Restore the bundle at ``source`` (a path or a seekable binary file) into ``owner``'s library.

    Without ``merge`` the library must be empty. With it, links already saved (by normalized URL)
    keep their fields, get the bundle's tags and the snapshots of its history they do not have.
    Snapshots still queued when the bundle was written are queued again (``capture``), or left
    out; new links that had no snapshot get a capture queued too (``capture``).
    Raises ``BundleError`` with a sentence; then nothing was saved.
    """
    archive, members = _open_zip(source, limits)
    with archive:
        info = members.get(MANIFEST)
        if info is None:
            raise BundleError(_("This zip holds no kb.json: it is not a kb library."))
        if info.file_size > limits.manifest_bytes:
            raise BundleError(
                _("kb.json would unpack to %(size)s; at most %(limit)s can be read.")
                % {"size": _size(info.file_size), "limit": _size(limits.manifest_bytes)}
            )
        if progress:
            progress(_("Reading kb.json"))
        plan = _plan(_read(archive, info))
        if progress:
            progress(_("Checking %(count)d stored blobs") % {"count": len(plan.blobs)})
        _check_blobs(archive, members, plan)
        if progress:
            progress(_("Saving %(count)d links") % {"count": len(plan.links)})
        return _save(owner, archive, members, plan, merge=merge, capture=capture)


def _snapshot_key(values: dict) -> tuple:
    return (values.get("requested"), values.get("archive_id"))


def _save(owner, archive, members, plan: Plan, *, merge: bool, capture: bool) -> BundleResult:
    result = BundleResult()
    now = timezone.now()
    to_queue: list[int] = []
    with transaction.atomic(), revision.bump_at_end():
        if not merge:
            count = Link.objects.filter(owner=owner).count()
            if count:
                raise BundleError(
                    _(
                        "This library already has %(count)d links: restore into an empty one, "
                        "or merge the backup into it (--merge)."
                    )
                    % {"count": count}
                )
        # One entry per page: a URL twice in the bundle (normalized since) becomes one link.
        wanted: dict[str, LinkPlan] = {}
        for link in plan.links:
            twin = wanted.get(link.normalized)
            if twin is None:
                wanted[link.normalized] = link
            else:
                twin.tags = link_tags(twin.tags + link.tags)[:MAX_LINK_TAGS]
                twin.snapshots.extend(link.snapshots)
        keys = list(wanted)
        existing: dict[str, int] = {}
        for start in range(0, len(keys), _BATCH):
            existing.update(
                Link.objects.filter(
                    owner=owner, normalized_url__in=keys[start : start + _BATCH]
                ).values_list("normalized_url", "pk")
            )
        # Tag rows first (the services' lock order), then links.
        tags = tags_for_names([name for link in wanted.values() for name in link.tags])
        new_links = [
            Link(
                owner=owner,
                url=link.url,
                normalized_url=normalized,
                domain=domain_of(link.url),
                title=link.title,
                description=link.description,
                notes=link.notes,
                private=link.private,
                unread=link.unread,
                created=link.created,
            )
            for normalized, link in wanted.items()
            if normalized not in existing
        ]
        Link.objects.bulk_create(new_links, batch_size=_BATCH)
        for link in new_links:
            link.updated = wanted[link.normalized_url].updated  # auto_now set it to now
        Link.objects.bulk_update(new_links, ["updated"], batch_size=_BATCH)
        ids = {link.normalized_url: link.pk for link in new_links}
        new_ids = set(ids.values())
        result.created, result.existing = len(new_links), len(existing)
        content_type = link_content_type()
        TaggedItem.objects.bulk_create(
            (
                TaggedItem(content_type=content_type, object_id=pk, tag=tags[name.casefold()])
                for normalized, pk in ids.items()
                for name in wanted[normalized].tags
            ),
            batch_size=1000,
        )
        for normalized, pk in existing.items():
            add_tags_to_links([pk], wanted[normalized].tags)

        # Snapshots, their blob rows first and the blobs' bytes last.
        have: set[tuple] = set()
        if existing:
            have = {
                (link_id, requested, archive_id)
                for link_id, requested, archive_id in Snapshot.objects.filter(
                    link_id__in=existing.values()
                ).values_list("link_id", "requested", "archive_id")
            }
        rows: list[tuple[Snapshot, SnapshotPlan]] = []
        latest: dict[int, Snapshot] = {}
        needed: set[str] = set()
        for normalized, link in wanted.items():
            link_id = ids.get(normalized) or existing[normalized]
            for item in link.snapshots:
                values = dict(item.values)
                status = values.get("status", Snapshot.Status.PENDING)
                if status in (Snapshot.Status.PENDING, Snapshot.Status.RUNNING):
                    if not capture:
                        continue
                    values |= {"status": Snapshot.Status.PENDING, "started": None}
                    values["finished"] = None
                if (link_id, *_snapshot_key(values)) in have:
                    continue
                used = [*item.blobs]
                used += [
                    values[k]
                    for k in values
                    if k.endswith("_id") and isinstance(values[k], str) and values[k]
                ]
                if any(sha in plan.missing for sha in used):
                    values |= {
                        "status": Snapshot.Status.FAILED,
                        "archive_id": None,
                        "error": MISSING_ARCHIVE,
                        "error_message": to_json(MISSING_ARCHIVE),
                    }
                    used, blobs = [], []
                else:
                    blobs = [sha for sha in item.blobs if sha not in plan.missing]
                needed.update(used)
                snapshot = Snapshot(link_id=link_id, **values)
                rows.append((snapshot, SnapshotPlan(values=values, blobs=blobs, latest=False)))
                if item.latest and link_id in new_ids:
                    latest[link_id] = snapshot
        Blob.objects.bulk_create(
            [
                Blob(sha256=sha, size=plan.blobs[sha][0], content_type=plan.blobs[sha][1])
                for sha in sorted(needed)
            ],
            ignore_conflicts=True,
            batch_size=_BATCH,
        )
        snapshots = [snapshot for snapshot, _item in rows]
        Snapshot.objects.bulk_create(snapshots, batch_size=_BATCH)
        through = Snapshot.blobs.through
        through.objects.bulk_create(
            (
                through(snapshot_id=snapshot.pk, blob_id=sha)
                for snapshot, item in rows
                for sha in sorted(set(item.blobs))
            ),
            batch_size=1000,
            ignore_conflicts=True,
        )
        result.snapshots = len(snapshots)
        to_queue += [s.pk for s in snapshots if s.status == Snapshot.Status.PENDING]
        if capture:
            with_history = {s.link_id for s in snapshots}
            fresh = [
                Snapshot(link_id=pk, requested=now) for pk in ids.values() if pk not in with_history
            ]
            Snapshot.objects.bulk_create(fresh, batch_size=_BATCH)
            to_queue += [s.pk for s in fresh]

        # Each link's latest snapshot: the one the bundle marked, else the newest.
        for link_id, snapshot in latest.items():
            Link.objects.filter(pk=link_id).update(latest_snapshot=snapshot.pk)
        newest = (
            Snapshot.objects.filter(link=OuterRef("pk"))
            .order_by("-requested", "-id")
            .values("id")[:1]
        )
        rest = [pk for pk in [*ids.values(), *existing.values()] if pk not in latest]
        for start in range(0, len(rest), _BATCH):
            Link.objects.filter(pk__in=rest[start : start + _BATCH]).update(
                latest_snapshot=Subquery(newest)
            )
        # And the page title people see: the newest succeeded snapshot's.
        page_title_refresh(*ids.values(), *existing.values())

        # The rows exist: now the bytes. The store skips what it already holds.
        store = blob_store()
        for sha in sorted(needed):
            body = _read(archive, members[BLOBS_DIR + sha])
            stored, written = store.put(body)
            if stored != sha:  # checked before; the zip changed under us
                raise BundleError(
                    _("The stored blob %(sha)s changed while it was read: nothing was restored.")
                    % {"sha": sha}
                )
            result.blobs += 1
            result.blobs_written += int(written)

        touched = [*ids.values(), *existing.values()]
        for start in range(0, len(touched), _BATCH):
            search.reindex_links(touched[start : start + _BATCH])
        if to_queue:
            result.captures_queued = len(to_queue)
            transaction.on_commit(lambda: queue_captures(to_queue))
    return result


def import_library_zip(
    *,
    owner,
    source: str | IO[bytes],
    private_default: bool = True,
    capture: bool = True,
    limits: Limits = WEB_LIMITS,
) -> ImportResult:
    """The import page's zip: a kb library merged into ``owner``'s, with archives and history;
    or, for a zip without kb.json, its bookmarks.html."""
    archive, members = _open_zip(source, limits)
    with archive:
        if MANIFEST not in members:
            info = members.get("bookmarks.html")
            if info is None:
                raise BundleError(
                    _("This zip holds neither kb.json nor bookmarks.html: nothing to import.")
                )
            return import_bookmarks(
                owner=owner,
                data=_read(archive, info),
                private_default=private_default,
                capture=capture,
            )
    if hasattr(source, "seek"):
        source.seek(0)
    return restore_bundle(owner=owner, source=source, merge=True, capture=capture, limits=limits)
