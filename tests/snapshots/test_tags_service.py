"""Renaming, merging and deleting tags: per person, though taggit's Tag rows are shared."""

import pytest
from taggit.models import Tag

from snapshots.normalize import LinkError
from snapshots.queries import LibraryFilters, library_links
from snapshots.services.links import link_create
from snapshots.services.tags import tag_delete, tag_merge, tag_rename

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def captures_queued_not_run(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def tags_of(link):
    link.refresh_from_db()
    return sorted(link.tags.names(), key=str.casefold)


def test_rename_moves_only_the_owners_links(user, other_user):
    mine, _ = link_create(owner=user, url="https://a.example/", tags=["ml", "x"])
    theirs, _ = link_create(owner=other_user, url="https://b.example/", tags=["ml"])
    assert tag_rename(owner=user, old="ML", new="machine-learning") == 1
    assert tags_of(mine) == ["machine-learning", "x"]
    assert tags_of(theirs) == ["ml"]


def test_rename_into_an_existing_tag_merges_without_duplicates(user):
    link, _ = link_create(owner=user, url="https://a.example/", tags=["ml", "machine-learning"])
    assert tag_rename(owner=user, old="ml", new="machine-learning") == 1
    assert tags_of(link) == ["machine-learning"]
    assert not Tag.objects.filter(name="ml").exists()


def test_rename_of_only_the_case_rewrites_a_tag_nobody_else_uses(user, other_user):
    link, _ = link_create(owner=user, url="https://a.example/", tags=["pytorch"])
    assert tag_rename(owner=user, old="pytorch", new="PyTorch") == 1
    assert tags_of(link) == ["PyTorch"]
    theirs, _ = link_create(owner=other_user, url="https://b.example/", tags=["PyTorch"])
    # Not refused (a refusal would tell that someone else, maybe privately, uses the tag).
    assert tag_rename(owner=user, old="PyTorch", new="pytorch") == 1
    assert (tags_of(link), tags_of(theirs)) == (["pytorch"], ["PyTorch"])


def test_rename_needs_one_name(user):
    link_create(owner=user, url="https://a.example/", tags=["ml"])
    with pytest.raises(LinkError, match="Enter one tag name"):
        tag_rename(owner=user, old="ml", new="two words")
    with pytest.raises(LinkError, match="Enter one tag name"):
        tag_rename(owner=user, old="ml", new="  ")
    assert tag_rename(owner=user, old="unknown", new="other") == 0


def test_merge_puts_several_tags_under_one(user, other_user):
    one, _ = link_create(owner=user, url="https://a.example/", tags=["kl", "kl-divergence"])
    two, _ = link_create(owner=user, url="https://b.example/", tags=["KL散度"])
    three, _ = link_create(owner=user, url="https://c.example/", tags=["other"])
    theirs, _ = link_create(owner=other_user, url="https://d.example/", tags=["kl"])
    assert tag_merge(owner=user, sources=["kl", "KL散度"], target="kl-divergence") == 2
    assert tags_of(one) == ["kl-divergence"]
    assert tags_of(two) == ["kl-divergence"]
    assert tags_of(three) == ["other"]
    assert tags_of(theirs) == ["kl"]
    assert [link.pk for link in library_links(user, LibraryFilters(q="KL散度"))] == []


def test_merge_needs_another_tag(user):
    with pytest.raises(LinkError, match="Choose at least one other tag"):
        tag_merge(owner=user, sources=["A"], target="A")


def test_merge_keeps_the_spelling_of_the_target_typed(user, other_user):
    one, _ = link_create(owner=user, url="https://a.example/", tags=["ai"])
    two, _ = link_create(owner=user, url="https://b.example/", tags=["ml"])
    theirs, _ = link_create(owner=other_user, url="https://c.example/", tags=["ai"])
    assert tag_merge(owner=user, sources=["ai", "ml"], target="AI") == 2
    assert tags_of(one) == ["AI"]
    assert tags_of(two) == ["AI"]
    assert tags_of(theirs) == ["ai"]
    # Only a new spelling is a merge too: "a" into "A" renames it.
    link, _ = link_create(owner=user, url="https://d.example/", tags=["a"])
    assert tag_merge(owner=user, sources=["a"], target="A") == 1
    assert tags_of(link) == ["A"]


def test_delete_untags_the_owners_links_and_keeps_the_links(user, other_user):
    mine, _ = link_create(owner=user, url="https://a.example/", tags=["temp", "keep"])
    theirs, _ = link_create(owner=other_user, url="https://b.example/", tags=["temp"])
    assert tag_delete(owner=user, name="TEMP") == 1
    assert tags_of(mine) == ["keep"]
    assert tags_of(theirs) == ["temp"]
    assert tag_delete(owner=other_user, name="temp") == 1
    assert not Tag.objects.filter(name="temp").exists()
