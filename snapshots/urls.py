from django.urls import path

from snapshots import views, views_archive

app_name = "snapshots"

urlpatterns = [
    # The library (snapshots/views.py).
    path("links/", views.library, name="library"),
    path("links/add/", views.link_add, name="link_add"),
    path("links/bulk/", views.links_bulk, name="links_bulk"),
    path("links/import/", views.links_import, name="links_import"),
    path("links/export/", views.links_export, name="links_export"),
    path("links/<int:pk>/", views.link_detail, name="link_detail"),
    path("links/<int:pk>/status/", views.link_capture_status, name="link_capture_status"),
    path("links/<int:pk>/capture/", views.link_capture, name="link_capture"),
    path("links/<int:pk>/edit/", views.link_edit, name="link_edit"),
    path("links/<int:pk>/delete/", views.link_remove, name="link_delete"),
    path("links/<int:pk>/compare/", views.link_compare, name="link_compare"),
    path("tags/", views.tags, name="tags"),
    # Two segments deep, so no tag's slug (which never contains "/") can shadow them.
    path("tags/manage/rename/", views.tag_rename_view, name="tag_rename"),
    path("tags/manage/merge/", views.tag_merge_view, name="tag_merge"),
    path("tags/manage/delete/", views.tag_delete_view, name="tag_delete"),
    path("tags/<str:slug>/", views.tag_detail, name="tag_detail"),
    # Archives (snapshots/views_archive.py): the raw sandboxed archive and the site pages around it.
    path("archive/<int:snapshot_id>/", views_archive.archive, name="snapshot_archive"),
    path("snapshots/<int:snapshot_id>/view/", views_archive.view, name="snapshot_view"),
    path("snapshots/<int:snapshot_id>/reader/", views_archive.reader, name="snapshot_reader"),
    path("snapshots/<int:snapshot_id>/download/", views_archive.download, name="snapshot_download"),
    path("snapshots/<int:snapshot_id>/icon/", views_archive.icon, name="snapshot_icon"),
]

# Atom feeds of public links (snapshots/feeds.py).
from snapshots.feeds import PublicLinksFeed, TagLinksFeed  # noqa: E402

urlpatterns += [
    path("feeds/links/", PublicLinksFeed(), name="feed_links"),
    path("feeds/tags/<str:slug>/", TagLinksFeed(), name="feed_tag"),
]
