from django.contrib import admin

from kb.models import ApiToken, WorkerHeartbeat


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "prefix", "created", "last_used")
    readonly_fields = ("prefix", "created", "last_used")
    search_fields = ("user__username",)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "pid", "queue", "started_at", "beat_at")
