"""The registry admin: every page opens, lists stay at a fixed number of queries, edits are audited."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditEvent
from cases.models import DoseRule, Infusion, Outcome, Product, ReleaseParameter
from tests.factories import AttemptFactory, UserFactory

MODELS = ["centre", "product", "patient", "case", "apheresis", "manufacturingattempt", "infusion", "outcome",
          "cytopenia", "failurereason"]


@pytest.fixture
def admin_client_logged_in(client, db):
    # One account, not the whole persona set: each persona costs a password hash.
    client.force_login(UserFactory(username="admin", role=Role.ADMIN, is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS)
def test_changelist_opens(admin_client_logged_in, model):
    response = admin_client_logged_in.get(reverse(f"admin:cases_{model}_changelist"))
    assert response.status_code == 200


def _changelist_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.count(b'class="action-select"')


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["manufacturingattempt", "infusion", "case", "patient", "outcome"])
def test_changelist_queries_do_not_grow_with_rows(admin_client_logged_in, model):
    url = reverse(f"admin:cases_{model}_changelist")
    # The first request after signing in also writes the session (at most once a minute): not measured.
    admin_client_logged_in.get(url)
    _make_rows(model, 1)
    few, shown_few = _changelist_queries(admin_client_logged_in, url)
    _make_rows(model, 4)
    many, shown_many = _changelist_queries(admin_client_logged_in, url)
    assert (shown_few, shown_many) == (1, 5)
    assert many == few


def _make_rows(model, n):
    # Every attempt brings its own case and patient, so those lists grow with it.
    for _ in range(n):
        attempt = AttemptFactory()
        if model == "infusion":
            Infusion.objects.create(case=attempt.case, attempt=attempt, date=attempt.result_on, dose=1.5e8)
        elif model == "outcome":
            Outcome.objects.create(case=attempt.case, last_contact_date=attempt.result_on)


@pytest.mark.django_db
def test_attempt_change_page_and_history_open(admin_client_logged_in):
    attempt = AttemptFactory()
    change = admin_client_logged_in.get(reverse("admin:cases_manufacturingattempt_change", args=[attempt.pk]))
    history = admin_client_logged_in.get(reverse("admin:cases_manufacturingattempt_history", args=[attempt.pk]))
    assert (change.status_code, history.status_code) == (200, 200)


@pytest.mark.django_db
def test_case_cannot_be_added_in_admin(admin_client_logged_in):
    response = admin_client_logged_in.get(reverse("admin:cases_case_add"))
    assert response.status_code == 403


def _inline_management(prefix, rows):
    return {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": str(len(rows)),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def _field(value):
    return "" if value is None else value


@pytest.mark.django_db
def test_editing_a_dose_rule_in_the_product_page_is_audited_and_kept_in_history(admin_client_logged_in):
    product = Product.objects.get(code="ide-cel")
    rule = product.dose_rules.get()
    parameters = list(product.release_parameters.all())
    post = {"code": product.code, "brand": product.brand, "generic_name": product.generic_name,
            "manufacturer": product.manufacturer, "target_antigen": product.target_antigen, "active": "on"}
    post |= _inline_management("dose_rules", [rule])
    for name in ("indication", "indication_label", "weight_min_kg", "weight_max_kg", "basis", "min_dose",
                 "max_dose", "target_dose", "weight_cap_kg", "max_total_dose", "notes", "source"):
        post[f"dose_rules-0-{name}"] = _field(getattr(rule, name))
    post["dose_rules-0-id"] = rule.pk
    post["dose_rules-0-product"] = product.pk
    post["dose_rules-0-max_dose"] = "450000000"
    post |= _inline_management("release_parameters", parameters)
    for i, parameter in enumerate(parameters):
        for name in ("order", "kind", "name", "comparator", "limit", "unit", "source"):
            post[f"release_parameters-{i}-{name}"] = _field(getattr(parameter, name))
        post[f"release_parameters-{i}-id"] = parameter.pk
        post[f"release_parameters-{i}-product"] = product.pk

    response = admin_client_logged_in.post(reverse("admin:cases_product_change", args=[product.pk]), post)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    rule.refresh_from_db()
    assert rule.max_dose == 450e6
    event = AuditEvent.objects.get(code="cases.doserule.changed")
    assert event.changes == {"max_dose": [500e6, 450e6]}
    assert event.actor_username == "admin" and event.context == {"via": "admin"}
    assert rule.history.first().max_dose == 450e6
    # Unchanged rows make no audit noise.
    assert not AuditEvent.objects.filter(code="cases.releaseparameter.changed").exists()
    assert ReleaseParameter.objects.filter(product=product).count() == 10
    assert DoseRule.objects.filter(product=product).count() == 1


@pytest.mark.django_db
def test_deleting_in_admin_is_audited(admin_client_logged_in):
    attempt = AttemptFactory()
    url = reverse("admin:cases_manufacturingattempt_delete", args=[attempt.pk])
    response = admin_client_logged_in.post(url, {"post": "yes"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(code="cases.manufacturingattempt.deleted")
    assert event.object_id == str(attempt.pk)
    assert event.centre_code == attempt.case.centre.code
