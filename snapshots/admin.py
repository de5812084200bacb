"""The library in Django's admin: links with their capture history, snapshots, stored blobs."""

from django.contrib import admin

from snapshots.models import Blob, Link, SavedSearch, Snapshot


class SnapshotInline(admin.TabularInline):
    model = Snapshot
    fields = ("status", "requested", "finished", "http_status", "title", "size", "error")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Link)
class LinkAdmin(admin.ModelAdmin):
    list_display = ("__str__", "owner", "domain", "private", "unread", "created")
    list_filter = ("private", "unread", "owner")
    search_fields = ("url", "title", "description", "notes")
    raw_id_fields = ("owner", "latest_snapshot")
    inlines = [SnapshotInline]


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = ("link", "status", "requested", "finished", "http_status", "size")
    list_filter = ("status",)
    search_fields = ("link__url", "title")
    raw_id_fields = ("link", "archive")
    filter_horizontal = ()
    exclude = ("blobs",)


@admin.register(Blob)
class BlobAdmin(admin.ModelAdmin):
    list_display = ("sha256", "content_type", "size", "created")
    search_fields = ("sha256",)


@admin.register(SavedSearch)
class SavedSearchAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "q", "created")
    search_fields = ("name", "q", "owner__username")
    # The feed key is a secret: shown, never edited here (a new one would break readers' addresses).
    readonly_fields = ("feed_key", "created")
