"""The library's addresses; the names (`snapshots:<name>`) are what templates and tests reverse."""

from django.urls import path

from snapshots.feeds import PublicLinksFeed, SavedSearchFeed, TagLinksFeed
from snapshots.views import archive, library, links, saved_searches, tags, transfer

app_name = "snapshots"

urlpatterns = [
    # The library and one link (snapshots/views/library.py, links.py, transfer.py).
    path("links/", library.library, name="library"),
    path("links/add/", links.link_add, name="link_add"),
    path("links/bulk/", library.links_bulk, name="links_bulk"),
    path("links/import/", transfer.links_import, name="links_import"),
    path("links/export/", transfer.links_export, name="links_export"),
    path("links/searches/", saved_searches.saved_search_add, name="saved_search_add"),
    path(
        "links/searches/<int:pk>/delete/",
        saved_searches.saved_search_remove,
        name="saved_search_delete",
    ),
    path("links/<int:pk>/", links.link_detail, name="link_detail"),
    path("links/<int:pk>/status/", links.link_capture_status, name="link_capture_status"),
    path("links/<int:pk>/capture/", links.link_capture, name="link_capture"),
    path("links/<int:pk>/edit/", links.link_edit, name="link_edit"),
    path("links/<int:pk>/delete/", links.link_remove, name="link_delete"),
    path("links/<int:pk>/compare/", links.link_compare, name="link_compare"),
    # Tags (snapshots/views/tags.py; a tag's own page is the library narrowed by it).
    path("tags/", tags.tags, name="tags"),
    # Two segments deep, so no tag's slug (which never contains "/") can shadow them.
    path("tags/manage/rename/", tags.tag_rename_view, name="tag_rename"),
    path("tags/manage/merge/", tags.tag_merge_view, name="tag_merge"),
    path("tags/manage/delete/", tags.tag_delete_view, name="tag_delete"),
    path("tags/<str:slug>/", library.tag_detail, name="tag_detail"),
    # Archives (snapshots/views/archive.py): the raw sandboxed archive and the site pages around it.
    path("archive/<int:snapshot_id>/", archive.archive, name="snapshot_archive"),
    path("snapshots/<int:snapshot_id>/view/", archive.view, name="snapshot_view"),
    path("snapshots/<int:snapshot_id>/reader/", archive.reader, name="snapshot_reader"),
    path("snapshots/<int:snapshot_id>/download/", archive.download, name="snapshot_download"),
    path("snapshots/<int:snapshot_id>/icon/", archive.icon, name="snapshot_icon"),
    path(
        "snapshots/<int:snapshot_id>/images/<str:sha256>/",
        archive.image,
        name="snapshot_image",
    ),
    path("snapshots/<int:snapshot_id>/screenshot/", archive.screenshot, name="snapshot_screenshot"),
    # Atom feeds of public links (snapshots/feeds.py).
    path("feeds/links/", PublicLinksFeed(), name="feed_links"),
    path("feeds/tags/<str:slug>/", TagLinksFeed(), name="feed_tag"),
    path("feeds/searches/<str:key>/", SavedSearchFeed(), name="feed_saved_search"),
]
