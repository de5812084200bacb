from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from kb import views
from kb.api import api

urlpatterns = [
    path("", views.home, name="home"),
    path("setup/", views.setup, name="setup"),
    path("search/", views.search, name="search"),
    path("healthz", views.healthz, name="healthz"),
    path("manifest.webmanifest", views.web_manifest, name="web_manifest"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("accounts/settings/", views.account_settings, name="account_settings"),
    path("accounts/settings/tokens/", views.api_token_create, name="api_token_create"),
    path(
        "accounts/settings/tokens/<int:pk>/revoke/",
        views.api_token_revoke,
        name="api_token_revoke",
    ),
    path("accounts/settings/library-view/", views.library_view, name="library_view"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("snapshots.urls")),
    path("losses/", include("lossdemos.urls")),
]
