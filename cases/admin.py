"""Admin for the registry: products and their specifications are edited here (with history).

Every admin write also goes to the audit trail with old and new values, so an edit made here is
as traceable as one made through the pages: django-simple-history keeps the row diff, the audit
event says who did it, from where, through the admin.
"""

from django.contrib import admin
from django.db import models
from simple_history.admin import SimpleHistoryAdmin

from audit.services import audit_log
from cases.models import (
    Apheresis,
    Case,
    Centre,
    Cytopenia,
    DoseRule,
    FailureReason,
    Infusion,
    ManufacturingAttempt,
    Outcome,
    Patient,
    Product,
    ReleaseParameter,
    ReleaseResult,
)


def _plain(value):
    """A JSON-friendly form of a form value: rows by primary key, sets of rows as sorted keys."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, models.QuerySet | list | tuple | set):
        return sorted(_plain(item) for item in value)
    return value


def _form_changes(form) -> dict:
    return {name: [_plain(form.initial.get(name)), _plain(form.cleaned_data.get(name))]
            for name in form.changed_data}


def _centre_code(obj) -> str:
    # Registry rows belong to a centre directly (patient, case) or through their case/attempt.
    for path in ("centre", "case__centre", "attempt__case__centre"):
        current = obj
        for step in path.split("__"):
            current = getattr(current, step, None)
            if current is None:
                break
        if isinstance(current, Centre):
            return current.code
    return ""


def _audit(request, obj, action: str, changes: dict | None = None) -> None:
    audit_log(code=f"cases.{obj._meta.model_name}.{action}", actor=request.user, obj=obj,
              centre_code=_centre_code(obj), changes=changes, context={"via": "admin"})


class AuditedAdminMixin:
    """Writes an audit event for each add, change and delete made in the admin (inlines included)."""

    def save_model(self, request, obj, form, change):
        changes = _form_changes(form)
        super().save_model(request, obj, form, change)
        _audit(request, obj, "changed" if change else "created", changes)

    def delete_model(self, request, obj):
        # Audited first: once deleted the row has no primary key to point at. Same transaction.
        _audit(request, obj, "deleted")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            _audit(request, obj, "deleted")
        super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        deleted = [f for f in formset.deleted_forms if f.instance.pk]
        for inline_form in deleted:
            _audit(request, inline_form.instance, "deleted")
        edited = [(f, f.instance.pk is None, _form_changes(f)) for f in formset.forms
                  if f.has_changed() and f not in deleted]
        super().save_formset(request, form, formset, change)
        for inline_form, is_new, changes in edited:
            if inline_form.instance.pk is not None:
                _audit(request, inline_form.instance, "created" if is_new else "changed", changes)


class RegistryAdmin(AuditedAdminMixin, SimpleHistoryAdmin):
    pass


# --- Centres and products -----------------------------------------------------------------------

@admin.register(Centre)
class CentreAdmin(RegistryAdmin):
    list_display = ("code", "name", "active")
    list_filter = ("active",)
    search_fields = ("code", "name")


class DoseRuleInline(admin.StackedInline):
    model = DoseRule
    extra = 0
    fields = (("indication", "indication_label"), ("weight_min_kg", "weight_max_kg"), "basis",
              ("min_dose", "max_dose", "target_dose"), ("weight_cap_kg", "max_total_dose"), "notes", "source")


class ReleaseParameterInline(admin.TabularInline):
    model = ReleaseParameter
    extra = 0
    fields = ("order", "kind", "name", "comparator", "limit", "unit", "source")


@admin.register(Product)
class ProductAdmin(RegistryAdmin):
    list_display = ("brand", "code", "generic_name", "manufacturer", "target_antigen", "active")
    list_filter = ("active", "target_antigen", "manufacturer")
    search_fields = ("code", "brand", "generic_name", "manufacturer")
    inlines = [DoseRuleInline, ReleaseParameterInline]


@admin.register(FailureReason)
class FailureReasonAdmin(RegistryAdmin):
    # Its codes are looked up by other modules, hence read-only once created.
    list_display = ("code", "label", "order")
    search_fields = ("code", "label")
    ordering = ("order", "label")

    def get_readonly_fields(self, request, obj=None):
        return ("code",) if obj is not None else ()


# --- Patients and cases -------------------------------------------------------------------------

@admin.register(Patient)
class PatientAdmin(RegistryAdmin):
    list_display = ("local_id", "centre", "sex", "birth_year", "weight_kg", "created_at")
    list_filter = ("centre", "sex")
    search_fields = ("local_id",)
    list_select_related = ("centre",)
    raw_id_fields = ("centre",)


@admin.register(Case)
class CaseAdmin(RegistryAdmin):
    list_display = ("public_id", "centre", "product", "indication", "diagnosis", "approval_date", "ecog")
    list_filter = ("product", "centre", "indication", "diagnosis", "prior_transplant")
    search_fields = ("public_id", "patient__local_id")
    list_select_related = ("centre", "product", "patient")
    raw_id_fields = ("patient", "created_by")
    readonly_fields = ("public_id", "created_at")
    date_hierarchy = "approval_date"

    def has_add_permission(self, request):
        # A case gets its public id when it is registered through the case pages and API;
        # the admin corrects existing cases only.
        return False


@admin.register(Apheresis)
class ApheresisAdmin(RegistryAdmin):
    list_display = ("case", "number", "date", "lymphocytes", "cd3_per_ul", "platelets")
    list_filter = ("case__product", "case__centre")
    search_fields = ("case__public_id",)
    list_select_related = ("case",)
    raw_id_fields = ("case",)
    date_hierarchy = "date"


class ReleaseResultInline(admin.TabularInline):
    model = ReleaseResult
    extra = 0
    fields = ("parameter", "value_numeric", "value_text", "within_spec")
    raw_id_fields = ("parameter",)


@admin.register(ManufacturingAttempt)
class ManufacturingAttemptAdmin(RegistryAdmin):
    list_display = ("case", "number", "outcome", "shipped_on", "result_on", "viable_car_t_dose", "lot_number")
    list_filter = ("outcome", "case__product", "case__centre", "failure_reasons")
    search_fields = ("case__public_id", "lot_number")
    list_select_related = ("case",)
    raw_id_fields = ("case", "apheresis")
    filter_horizontal = ("failure_reasons",)
    inlines = [ReleaseResultInline]
    date_hierarchy = "shipped_on"


@admin.register(Infusion)
class InfusionAdmin(RegistryAdmin):
    list_display = ("case", "date", "attempt", "dose", "bridging_therapy")
    list_filter = ("attempt__outcome", "case__product", "case__centre", "bridging_therapy")
    search_fields = ("case__public_id",)
    list_select_related = ("case", "attempt", "attempt__case")
    raw_id_fields = ("case", "attempt")
    date_hierarchy = "date"


@admin.register(Outcome)
class OutcomeAdmin(RegistryAdmin):
    list_display = ("case", "best_response", "crs_grade", "icans_grade", "progression_date", "death_date",
                    "last_contact_date")
    list_filter = ("best_response", "crs_grade", "icans_grade", "icu_admission", "case__product")
    search_fields = ("case__public_id",)
    list_select_related = ("case",)
    raw_id_fields = ("case",)


@admin.register(Cytopenia)
class CytopeniaAdmin(RegistryAdmin):
    list_display = ("case", "kind", "day", "grade", "ctcae_version")
    list_filter = ("kind", "grade", "day")
    search_fields = ("case__public_id",)
    list_select_related = ("case",)
    raw_id_fields = ("case",)
