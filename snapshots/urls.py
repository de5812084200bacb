from django.urls import path

from snapshots import views, views_archive

app_name = "snapshots"

urlpatterns = [
    path("links/", views.library, name="library"),
    path("links/add/", views.link_add, name="link_add"),
    path("tags/", views.tags, name="tags"),
    # Archives (snapshots/views_archive.py): the raw sandboxed archive and the site pages around it.
    path("archive/<int:snapshot_id>/", views_archive.archive, name="snapshot_archive"),
    path("snapshots/<int:snapshot_id>/view/", views_archive.view, name="snapshot_view"),
    path("snapshots/<int:snapshot_id>/reader/", views_archive.reader, name="snapshot_reader"),
    path("snapshots/<int:snapshot_id>/download/", views_archive.download, name="snapshot_download"),
]
