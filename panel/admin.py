"""Admin for the panel: membership is managed here; applications, votes and decisions are read-only.

A vote or a decision edited in the admin would bypass the row lock and the approval rule, so those
rows can only be inspected (with their history); they change through ``panel.services``.
Membership edits are audited like every other write.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from audit.services import audit_log
from panel.models import Decision, OOSApplication, PanelMember, Recusal, Vote


class ReadOnlyAdmin(SimpleHistoryAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PanelMember)
class PanelMemberAdmin(SimpleHistoryAdmin):
    list_display = ("user", "role", "active_from", "active_to", "deputy_of")
    list_filter = ("role",)
    search_fields = ("user__username", "user__first_name", "user__last_name")
    filter_horizontal = ("affiliations",)
    autocomplete_fields = ("user",)
    raw_id_fields = ("deputy_of",)

    def save_model(self, request, obj, form, change):
        changes = {name: [str(form.initial.get(name)), str(form.cleaned_data.get(name))]
                   for name in form.changed_data}
        super().save_model(request, obj, form, change)
        audit_log(code="panel.member.changed" if change else "panel.member.created", actor=request.user,
                  obj=obj, changes=changes, context={"via": "admin"})

    def delete_model(self, request, obj):
        # A member who voted cannot be deleted (votes protect them); ending the membership is the way.
        audit_log(code="panel.member.deleted", actor=request.user, obj=obj, context={"via": "admin"})
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            audit_log(code="panel.member.deleted", actor=request.user, obj=obj, context={"via": "admin"})
        super().delete_queryset(request, queryset)


@admin.register(OOSApplication)
class OOSApplicationAdmin(ReadOnlyAdmin):
    list_display = ("id", "case", "centre", "status", "urgency", "submitted_at", "sla_due_at")
    list_filter = ("status", "urgency", "centre")
    search_fields = ("case__public_id",)


@admin.register(Vote)
class VoteAdmin(ReadOnlyAdmin):
    list_display = ("application", "member", "choice", "cast_at")
    list_filter = ("choice",)


@admin.register(Recusal)
class RecusalAdmin(ReadOnlyAdmin):
    list_display = ("application", "member", "automatic", "created_at")


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ("application", "outcome", "decided_at")
