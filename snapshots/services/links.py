"""Saving links: URL normalization, per-user dedupe, tags, edits, bulk edits and deletion.

Every write to a link goes through here, so the search index (snapshots.search) and the capture
queue (snapshots.services.snapshots.snapshot_request) stay in step with the rows.

Decisions, so every caller gets the same answers:
- A URL without a scheme ("example.com/a") is taken as https; only http and https are saved.
- The saved URL *is* the normalized one (tracking parameters gone); it is also the dedupe key.
- Tags never contain spaces: commas (also "，" and "、") and whitespace separate them. Their case is
  kept as first typed, and two spellings that differ only by case are one tag (TAGGIT_CASE_INSENSITIVE).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from taggit.models import Tag, TaggedItem

from snapshots import revision, search
from snapshots.models import Link, Snapshot

logger = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
MAX_TAG_LENGTH = 100
MAX_TITLE_LENGTH = 500

# Query parameters that only say where a click came from; two URLs differing only by these are one page.
TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "twclid",
        "ttclid",
        "_hsenc",
        "_hsmi",
        "__hssc",
        "__hstc",
        "__hsfp",
        "hsctatracking",
        "ref_src",
        "ref_url",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "vero_conv",
        "_ga",
        "_gl",
        "srsltid",
        "spm",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_campaign", "pk_kwd", "pk_source", "pk_medium")
DEFAULT_PORTS = {"http": 80, "https": 443}

_EXPLICIT_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_BARE_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(?!\d)")
_TAG_SEPARATORS = re.compile(r"[\s,，、;；]+")
# Characters left as they are in a path or query; everything else is percent-encoded.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = "/?%:@!$&'()*+,;=-._~[]|"

BULK_ACTIONS = (
    "add_tags",
    "remove_tags",
    "mark_read",
    "mark_unread",
    "make_private",
    "make_public",
    "capture",
    "delete",
)


class LinkError(ValueError):
    """A link that cannot be saved; `message` is the sentence shown to the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------------------------------------
# URLs


def _is_tracking(key: str) -> bool:
    key = unquote(key).strip().lower()
    return key in TRACKING_PARAMETERS or key.startswith(TRACKING_PREFIXES)


def _ascii_host(host: str) -> str:
    """Lowercase, and internationalized names as punycode (IDNA 2008 with UTS #46 mapping)."""
    host = host.rstrip(".").lower()
    if host.isascii():
        return host
    try:
        import idna

        return idna.encode(host, uts46=True).decode("ascii")
    except (ImportError, UnicodeError, ValueError):
        try:
            return host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise LinkError(
                _("The address %(host)s is not a valid host name.") % {"host": host}
            ) from exc


def normalize_url(url: str) -> str:
    """The canonical form of a web address, used both to save and to find twins.

    Lowercases scheme and host (IDN → punycode), drops the default port, the fragment, a bare
    trailing "?" and tracking parameters (utm_*, fbclid, gclid, …); other parameters keep their order
    and spelling. A missing scheme means https. Raises LinkError with a sentence for a bad URL.
    """
    if not isinstance(url, str):
        raise LinkError(_("Enter a URL."))
    url = url.strip()
    if not url:
        raise LinkError(_("Enter a URL."))
    if len(url) > MAX_URL_LENGTH:
        raise LinkError(
            _("The URL is too long: at most %(max)d characters.") % {"max": MAX_URL_LENGTH}
        )
    if any(ch.isspace() for ch in url):
        raise LinkError(_("A URL cannot contain spaces."))
    if url.startswith("//"):
        url = "https:" + url
    elif not _EXPLICIT_SCHEME.match(url):
        bare = _BARE_SCHEME.match(url)
        if bare and "." not in bare.group(1):
            raise LinkError(
                _("Only http and https links can be saved, not %(scheme)s.")
                % {"scheme": bare.group(1).lower() + ":"}
            )
        url = "https://" + url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise LinkError(_("The URL is not valid: %(reason)s.") % {"reason": str(exc)}) from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise LinkError(
            _("Only http and https links can be saved, not %(scheme)s.") % {"scheme": scheme + ":"}
        )
    hostname = parts.hostname or ""
    if not hostname or hostname.strip(".") == "":
        raise LinkError(_("The URL has no host name, e.g. https://example.com/."))
    if ":" in hostname:  # an IPv6 literal keeps its brackets
        host = f"[{hostname.lower()}]"
    else:
        host = _ascii_host(hostname)
        if not host or any(not label for label in host.split(".")):
            raise LinkError(
                _("The address %(host)s is not a valid host name.") % {"host": hostname}
            )
        if not re.fullmatch(r"[a-z0-9\-._~]+", host):
            raise LinkError(
                _("The address %(host)s is not a valid host name.") % {"host": hostname}
            )
    netloc = host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        if port == 0:
            raise LinkError(_("The URL's port must be between 1 and 65535."))
        netloc = f"{host}:{port}"
    # userinfo is kept: some intranet links need it (the fetcher decides whether to send it).
    if "@" in parts.netloc:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc

    path = quote(parts.path or "/", safe=_PATH_SAFE)
    kept = [
        quote(segment, safe=_QUERY_SAFE)
        for segment in parts.query.split("&")
        if segment and not _is_tracking(segment.split("=", 1)[0])
    ]
    normalized = urlunsplit((scheme, netloc, path, "&".join(kept), ""))
    if len(normalized) > MAX_URL_LENGTH:
        raise LinkError(
            _("The URL is too long: at most %(max)d characters.") % {"max": MAX_URL_LENGTH}
        )
    return normalized


def domain_of(url: str) -> str:
    return (urlsplit(url).hostname or "").removeprefix("www.")


# ---------------------------------------------------------------------------------------------
# Tags


def parse_tags(text: str | Iterable[str]) -> list[str]:
    """Tag names from what a person typed: "a, b c", "a,b", "机器学习，熵" → ["a", "b", "c"] ….

    Separators are commas (also Chinese "，" and "、"), semicolons and whitespace; a leading "#" is
    dropped. The first spelling of a name is kept and later ones that differ only by case are dropped.
    A list is accepted too (each item parsed the same way). Raises LinkError for an over-long tag.
    """
    if text is None:
        return []
    pieces = [text] if isinstance(text, str) else [str(item) for item in text]
    names: list[str] = []
    seen: set[str] = set()
    for piece in pieces:
        for raw in _TAG_SEPARATORS.split(piece):
            name = raw.strip().lstrip("#").strip()
            if not name:
                continue
            if len(name) > MAX_TAG_LENGTH:
                raise LinkError(
                    _("A tag can be at most %(max)d characters long.") % {"max": MAX_TAG_LENGTH}
                )
            key = name.casefold()
            if key not in seen:
                seen.add(key)
                names.append(name)
    return names


def link_content_type() -> ContentType:
    return ContentType.objects.get_for_model(Link)


def tags_for_names(names: Iterable[str]) -> dict[str, Tag]:
    """Existing-or-new Tag for each name, matched case-insensitively (keys are casefolded names)."""
    wanted = {name.casefold(): name for name in names}
    if not wanted:
        return {}
    found: dict[str, Tag] = {}
    condition = Q()
    for name in wanted.values():
        condition |= Q(name__iexact=name)
    query = Tag.objects.filter(condition).order_by("id")
    for tag in query:
        found.setdefault(tag.name.casefold(), tag)
    for key, name in wanted.items():
        if key not in found:
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
    condition = Q()
    for name in names:
        condition |= Q(tag__name__iexact=name)
    deleted, _detail = TaggedItem.objects.filter(
        condition, content_type=link_content_type(), object_id__in=link_ids
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
# Captures


def request_capture(link: Link) -> Snapshot:
    """Queue a capture of the link (the capture service owns how); returns the pending snapshot.

    The snapshot row is made now, in the caller's transaction; the task is enqueued on commit.
    """
    try:
        from snapshots.services.snapshots import snapshot_request
    except ImportError:
        # Without the capture service the request is still recorded, so it shows as queued.
        logger.warning("snapshots.services.snapshots is missing; link %s not queued", link.pk)
        snapshot = Snapshot.objects.create(link=link)
        Link.objects.filter(pk=link.pk).update(latest_snapshot=snapshot)
        link.latest_snapshot = snapshot
        return snapshot
    return snapshot_request(link=link)


# ---------------------------------------------------------------------------------------------
# Create, update, delete


def _clean_title(title: str) -> str:
    title = (title or "").strip()
    if len(title) > MAX_TITLE_LENGTH:
        raise LinkError(
            _("The title is too long: at most %(max)d characters.") % {"max": MAX_TITLE_LENGTH}
        )
    return title


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
    names = parse_tags(tags)
    title = _clean_title(title)
    notes = notes or ""
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
            request_capture(link)
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
            link.notes = fields["notes"] or ""
        if "description" in fields:
            link.description = fields["description"] or ""
        if "private" in fields:
            link.private = bool(fields["private"])
        if "unread" in fields:
            link.unread = bool(fields["unread"])
        link.save()
        if "tags" in fields:
            _set_tags(link, parse_tags(fields["tags"] or ()))
        search.reindex_link(link.pk)
        revision.bump()
    return link


def link_delete(*, link: Link) -> None:
    """Delete the link, its snapshots (freeing blobs nobody else uses) and its search entry."""
    try:
        from snapshots.services.snapshots import snapshot_delete
    except ImportError:
        snapshot_delete = None
    with transaction.atomic():
        Link.objects.filter(pk=link.pk).update(latest_snapshot=None)
        for snapshot in list(Snapshot.objects.filter(link=link)):
            if snapshot_delete is not None:
                snapshot_delete(snapshot=snapshot)
            else:
                snapshot.delete()
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
    if action not in BULK_ACTIONS:
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
    names = parse_tags(tags)
    if action in ("add_tags", "remove_tags") and not names:
        raise LinkError(_("Enter at least one tag."))
    links = Link.objects.filter(pk__in=ids)
    with transaction.atomic():
        if action == "add_tags":
            add_tags_to_links(ids, names)
            search.reindex_links(ids)
        elif action == "remove_tags":
            remove_tags_from_links(ids, names)
            search.reindex_links(ids)
        elif action in ("mark_read", "mark_unread"):
            links.update(unread=action == "mark_unread")
        elif action in ("make_private", "make_public"):
            links.update(private=action == "make_private")
        elif action == "capture":
            for link in links:
                request_capture(link)
        elif action == "delete":
            for link in list(links):
                link_delete(link=link)
        revision.bump()
    return len(ids)


__all__ = [
    "BULK_ACTIONS",
    "LinkError",
    "add_tags_to_links",
    "link_create",
    "link_delete",
    "link_update",
    "links_bulk_edit",
    "normalize_url",
    "parse_tags",
    "request_capture",
]
