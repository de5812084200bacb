"""Tag counts are cached under the library's revision token and are never stale."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from taggit.models import TaggedItem

from snapshots.access import visible_links
from snapshots.models import Link
from snapshots.queries import tag_counts
from snapshots.services.links import link_create, links_bulk_edit
from snapshots.services.tags import tag_rename

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def captures_queued_not_run(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def counts(user) -> dict[str, int]:
    return {tag.name: tag.count for tag in tag_counts(visible_links(user))}


def test_a_repeated_count_is_served_from_the_cache(user):
    link_create(owner=user, url="https://a.example/", tags=["ml", "熵"])
    assert counts(user) == {"ml": 1, "熵": 1}
    with CaptureQueriesContext(connection) as captured:
        assert counts(user) == {"ml": 1, "熵": 1}
    assert not any("COUNT(" in query["sql"].upper() for query in captured.captured_queries)


def test_counts_follow_services_orm_changes_and_rollbacks(user, other_user):
    link, _ = link_create(owner=user, url="https://a.example/", tags=["ml"])
    theirs, _ = link_create(owner=other_user, url="https://b.example/", tags=["ml"])
    assert counts(user) == {"ml": 1}

    links_bulk_edit(owner=other_user, link_ids=[theirs.pk], action="make_public")
    assert counts(user) == {"ml": 2}

    link.tags.add("added-through-taggit")
    assert counts(user)["added-through-taggit"] == 1

    Link.objects.get(pk=theirs.pk).save()  # a plain save is seen too
    theirs.private = True
    theirs.save()
    assert counts(user)["ml"] == 1

    TaggedItem.objects.filter(object_id=link.pk, tag__name="ml").delete()
    assert "ml" not in counts(user)

    tag_rename(owner=user, old="added-through-taggit", new="renamed")
    assert counts(user) == {"renamed": 1}

    def add_then_roll_back():
        with transaction.atomic():
            link_create(owner=user, url="https://c.example/", tags=["renamed", "temporary"])
            assert counts(user) == {"renamed": 2, "temporary": 1}
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        add_then_roll_back()
    assert counts(user) == {"renamed": 1}


def test_the_result_is_still_a_queryset(user):
    link_create(owner=user, url="https://a.example/", tags=["b", "a"])
    link_create(owner=user, url="https://b.example/", tags=["b"])
    links = Link.objects.filter(owner=user)
    tag_counts(links)  # fill the cache
    assert list(tag_counts(links).values_list("name", flat=True)[:1]) == ["b"]
    assert [(tag.name, tag.count) for tag in tag_counts(links)[:5]] == [("b", 2), ("a", 1)]
    assert list(tag_counts(Link.objects.none())) == []
