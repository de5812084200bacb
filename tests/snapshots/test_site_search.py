"""`site:host` finds links saved from that host and its subdomains, through the host_key index.

Every way a link is saved or changed keeps the key (one save, an import in bulk, a new URL), and
the upgrade that added the key gives it to links saved before. Marked like every test that
touches the database, so `make pytest-postgres` runs it again on PostgreSQL, where the prefix is
a LIKE on a pattern-ops index rather than SQLite's range.
"""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from snapshots.models import Link
from snapshots.normalize import host_key
from snapshots.queries import LibraryFilters, library_links
from snapshots.services.importer import import_bookmarks
from snapshots.services.links import link_create, link_update

pytestmark = pytest.mark.django_db

HOSTS = [
    "example.org",
    "www.example.org",  # saved as example.org (the domain drops "www.")
    "blog.example.org",
    "a.b.example.org",
    "myexample.org",  # ends like it, but another site
    "example.org.evil.test",  # starts like it
    "example.organic",
    "example2.org",
    "example-x.org",
    "EXAMPLE.net",
]


@pytest.fixture(autouse=True)
def captures_queued_not_run(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def site_of(user, q):
    return sorted(link.url for link in library_links(user, LibraryFilters(q=q)))


def test_host_key_reverses_the_labels():
    assert host_key("blog.example.org") == "org.example.blog."
    assert host_key("Example.ORG.") == "org.example."
    assert host_key("") == ""


@pytest.mark.parametrize(
    ("q", "hosts"),
    [
        ("site:example.org", ["a.b.example.org", "blog.example.org", "example.org", "www.example.org"]),
        ("site:www.example.org", ["a.b.example.org", "blog.example.org", "example.org", "www.example.org"]),
        ("site:b.example.org", ["a.b.example.org"]),
        ("site:Example.Org", ["a.b.example.org", "blog.example.org", "example.org", "www.example.org"]),
        ("site:ample.org", []),
        ("site:org", ["a.b.example.org", "blog.example.org", "example-x.org", "example.org",
                      "example2.org", "myexample.org", "www.example.org"]),
        ("site:example.net", ["example.net"]),
        ("-site:example.org site:org", ["example-x.org", "example2.org", "myexample.org"]),
        ("site:example.org OR site:example2.org", ["a.b.example.org", "blog.example.org",
                                                   "example.org", "example2.org", "www.example.org"]),
    ],
)  # fmt: skip
def test_site_finds_the_host_and_its_subdomains_only(user, q, hosts):
    for host in HOSTS:
        link_create(owner=user, url=f"https://{host}/page", capture=False)
    found = site_of(user, q)
    assert [url.split("//")[1].split("/")[0] for url in found] == hosts


def test_a_new_url_moves_the_link_to_its_new_site(user):
    link, _ = link_create(owner=user, url="https://old.example.org/a", capture=False)
    link_update(link=link, url="https://new.example.net/a")
    assert site_of(user, "site:example.org") == []
    assert site_of(user, "site:example.net") == ["https://new.example.net/a"]


def test_imported_links_are_found_by_site(user):
    data = (
        b'<DL><p><DT><A HREF="https://docs.example.org/x" ADD_DATE="1700000000">Docs</A>'
        b'<DT><A HREF="https://other.test/y" ADD_DATE="1700000001">Other</A></DL>'
    )
    import_bookmarks(owner=user, data=data, capture=False)
    assert site_of(user, "site:example.org") == ["https://docs.example.org/x"]
    assert Link.objects.get(domain="docs.example.org").host_key == "org.example.docs."


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_gives_links_saved_before_it_their_key(user):
    before = [("snapshots", "0019_snapshot_priority")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        OldLink = executor.loader.project_state(before).apps.get_model("snapshots", "Link")
        for n, host in enumerate(["blog.example.org", "elsewhere.test"]):
            OldLink.objects.create(
                owner_id=user.pk,
                url=f"https://{host}/{n}",
                normalized_url=f"https://{host}/{n}",
                domain=host,
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert site_of(user, "site:example.org") == ["https://blog.example.org/0"]
