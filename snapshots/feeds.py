"""Atom feeds: public links (all of them, and per tag: private links never appear there), and each
saved search's, at a secret address, listing what its owner sees.

Every text put in the XML goes through clean_text: rows stored before writes cleaned control
characters may still hold them, and XML 1.0 cannot carry them (Django refuses to write the feed).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.syndication.views import Feed
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape
from django.utils.translation import gettext_lazy as _
from taggit.models import Tag

from kb.markdown import render_markdown
from snapshots.access import visible_links
from snapshots.models import Link, SavedSearch
from snapshots.normalize import clean_text
from snapshots.queries import LibraryFilters, library_links, tags_named

FEED_LENGTH = 50


class PublicLinksFeed(Feed):
    feed_type = Atom1Feed
    title = _("kb: public links")
    subtitle = _("Links saved to kb and made public, newest first.")

    def link(self) -> str:
        return reverse("snapshots:library")

    def feed_url(self) -> str:
        return reverse("snapshots:feed_links")

    def public_links(self, filters: LibraryFilters) -> QuerySet[Link]:
        # Anonymous visibility: exactly what a visitor who is not signed in sees.
        return library_links(None, filters)[:FEED_LENGTH]

    def items(self):
        return self.public_links(LibraryFilters())

    def item_title(self, item: Link) -> str:
        return clean_text(item.display_title)

    def item_link(self, item: Link) -> str:
        return item.url

    def item_guid(self, item: Link) -> str:
        # The same URL can be public for two people: the id, not the URL, names the entry.
        return f"kb-link-{item.pk}"

    item_guid_is_permalink = False

    def item_description(self, item: Link) -> str:
        parts = []
        if item.description:
            parts.append(f"<p>{escape(item.description)}</p>")
        if item.notes:
            parts.append(render_markdown(item.notes))
        return clean_text("\n".join(parts))

    def item_pubdate(self, item: Link):
        return item.created

    def item_updateddate(self, item: Link):
        return item.updated

    def item_categories(self, item: Link) -> list[str]:
        return [clean_text(name) for name in item.tag_names]

    def item_author_name(self, item: Link) -> str:
        return clean_text(item.owner.get_username())


class TagLinksFeed(PublicLinksFeed):
    def get_object(self, request, slug: str) -> Tag:
        tag = Tag.objects.filter(slug=slug).first()
        # No public link carries it: the name is someone's private word, as unknown as no tag.
        if tag is None or not visible_links(None).filter(tags__in=tags_named([tag.name])).exists():
            raise Http404("no such tag")
        return tag

    def title(self, tag: Tag) -> str:
        return _("kb: public links tagged “%(tag)s”") % {"tag": clean_text(tag.name)}

    def subtitle(self, tag: Tag) -> str:
        return _("Public links tagged “%(tag)s”, newest first.") % {"tag": clean_text(tag.name)}

    def link(self, tag: Tag) -> str:
        return reverse("snapshots:library") + "?" + urlencode({"tag": tag.name})

    def feed_url(self, tag: Tag) -> str:
        return reverse("snapshots:feed_tag", kwargs={"slug": tag.slug})

    def items(self, tag: Tag):
        return self.public_links(LibraryFilters(tags=[tag.name]))


class SavedSearchFeed(PublicLinksFeed):
    """A saved search's links, newest matches first, as its owner sees them (private ones too).

    The address holds the search's secret feed key: feed readers cannot sign in. A key that names
    no saved search is a 404 like any unknown address.
    """

    def get_object(self, request, key: str) -> SavedSearch:
        saved = SavedSearch.objects.select_related("owner").filter(feed_key=key).first()
        if saved is None or not saved.owner.is_active:
            raise Http404("no such feed")
        return saved

    def title(self, saved: SavedSearch) -> str:
        return _("kb: saved search “%(name)s”") % {"name": clean_text(saved.name)}

    def subtitle(self, saved: SavedSearch) -> str:
        return _("Links matching “%(q)s”.") % {"q": clean_text(saved.q)}

    def link(self, saved: SavedSearch) -> str:
        return saved.library_url

    def feed_url(self, saved: SavedSearch) -> str:
        return saved.feed_url

    def items(self, saved: SavedSearch):
        filters = LibraryFilters(q=saved.q, sort=saved.sort)
        return library_links(saved.owner, filters)[:FEED_LENGTH]
