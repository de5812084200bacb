from django.urls import path

from lossdemos import views

app_name = "lossdemos"

urlpatterns = [
    path("", views.index, name="index"),
]
