from django.urls import path

from lossdemos import explore, views

app_name = "lossdemos"

urlpatterns = [
    path("", views.index, name="index"),
    path("mistakes/", views.mistakes, name="mistakes"),
    path("<slug:slug>/explore/", explore.explore_page, name="explore"),
    path("<slug:slug>/", views.concept_page, name="concept"),
]
