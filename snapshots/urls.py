from django.urls import path

from snapshots import views

app_name = "snapshots"

urlpatterns = [
    path("links/", views.library, name="library"),
    path("links/add/", views.link_add, name="link_add"),
    path("tags/", views.tags, name="tags"),
]
