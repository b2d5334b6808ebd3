from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "code", "actor_username", "actor_role", "object_repr", "centre_code", "ip")
    list_filter = ("code", "actor_role", "centre_code")
    search_fields = ("object_repr", "actor_username", "code")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
