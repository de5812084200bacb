"""Renaming, merging and deleting a person's tags.

taggit's Tag rows are shared by everyone, so these functions never edit another person's links:
they move this owner's links from one tag to another and delete a Tag row only once no link at all
uses it. Names compare case-insensitively, like everywhere else in the library.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from taggit.models import Tag, TaggedItem

from snapshots import revision, search
from snapshots.models import Link, link_content_type
from snapshots.normalize import LinkError, parse_tags
from snapshots.queries import tags_named
from snapshots.services.links import tags_for_names


def _one_name(text: str) -> str:
    names = parse_tags(text or "")
    if len(names) != 1:
        raise LinkError(_("Enter one tag name, without spaces or commas."))
    return names[0]


def _owner_items(owner, names: list[str]):
    return TaggedItem.objects.filter(
        tag__in=tags_named(names),
        content_type=link_content_type(),
        object_id__in=Link.objects.filter(owner=owner).values("pk"),
    )


def _drop_unused(tag_ids) -> None:
    used = TaggedItem.objects.filter(tag_id__in=tag_ids).values("tag_id")
    Tag.objects.filter(pk__in=tag_ids).exclude(pk__in=used).delete()


def _retag(owner, sources: list[str], target: str | Tag | None) -> int:
    """Move the owner's links off `sources` onto `target` (a name or a Tag; or just off, for None)."""
    with transaction.atomic(), revision.bump_at_end():
        items = list(_owner_items(owner, sources).values_list("object_id", "tag_id"))
        link_ids = sorted({object_id for object_id, _tag in items})
        if not link_ids:
            return 0
        old_tag_ids = {tag_id for _link, tag_id in items}
        if target is not None:
            target_tag = (
                target if isinstance(target, Tag) else tags_for_names([target])[target.casefold()]
            )
            old_tag_ids.discard(target_tag.pk)
            have = set(
                TaggedItem.objects.filter(
                    content_type=link_content_type(), object_id__in=link_ids, tag=target_tag
                ).values_list("object_id", flat=True)
            )
            TaggedItem.objects.bulk_create(
                TaggedItem(content_type=link_content_type(), object_id=link_id, tag=target_tag)
                for link_id in link_ids
                if link_id not in have
            )
        TaggedItem.objects.filter(
            content_type=link_content_type(), object_id__in=link_ids, tag_id__in=old_tag_ids
        ).delete()
        _drop_unused(old_tag_ids)
        search.reindex_links(link_ids)
        return len(link_ids)


def tag_rename(*, owner, old: str, new: str) -> int:
    """Rename the owner's tag `old` to `new` (merging into `new` if the owner already uses it).

    Returns how many links changed. Changing only the case of a name ("ml" → "ML") rewrites the
    Tag row when no one else's link carries it; otherwise the owner's links move to a Tag row
    spelled the new way and others keep theirs (never a refusal, which would tell that someone
    else, maybe privately, uses the name).
    """
    old = _one_name(old)
    new = _one_name(new)
    if old.casefold() != new.casefold():
        return _retag(owner, [old], new)
    with transaction.atomic():
        items = _owner_items(owner, [old])
        tag_ids = set(items.values_list("tag_id", flat=True))
        if not tag_ids:
            return 0
        shared = (
            TaggedItem.objects.filter(tag_id__in=tag_ids)
            .exclude(pk__in=items.values("pk"))
            .exists()
        )
        if shared:
            target, _created = Tag.objects.get_or_create(name=new)
            return _retag(owner, [old], target)
        link_ids = sorted(set(items.values_list("object_id", flat=True)))
        Tag.objects.filter(pk__in=tag_ids).update(name=new)
        search.reindex_links(link_ids)
        revision.bump()
        return len(link_ids)


def tag_merge(*, owner, sources: list[str], target: str) -> int:
    """Put every link of the owner carrying any of `sources` under `target`; returns links changed.

    The target keeps the spelling the person typed: merging "ai" and "ml" into "AI" leaves "AI",
    not the "ai" a case-insensitive lookup would find first.
    """
    target = _one_name(target)
    named = parse_tags(sources)
    names = [name for name in named if name.casefold() != target.casefold()]
    respelled = [name for name in named if name.casefold() == target.casefold() and name != target]
    if not names and not respelled:
        raise LinkError(
            _("Choose at least one other tag to merge into “%(name)s”.") % {"name": target}
        )
    changed = _retag(owner, names, target) if names else 0
    if _owner_items(owner, [target]).exclude(tag__name=target).exists():
        changed = max(changed, tag_rename(owner=owner, old=target, new=target))
    return changed


def tag_delete(*, owner, name: str) -> int:
    """Remove the tag from all of the owner's links (the links stay); returns links changed."""
    return _retag(owner, [_one_name(name)], None)


__all__ = ["tag_delete", "tag_merge", "tag_rename"]
