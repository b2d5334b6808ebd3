import datetime as dt

import pytest
from playwright.sync_api import expect

from accounts.roles import Role
from cases import services
from cases.models import AttemptOutcome, FailureReason, Product
from tests.factories import CaseFactory, CentreFactory, PatientFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def oos_case(reference_data):
    centre = CentreFactory(code="ctra", name="Centre A")
    user = UserFactory(username="clinician.a", role=Role.CENTRE_USER, centre=centre)
    case = CaseFactory(patient=PatientFactory(centre=centre, local_id="A-0042"),
                       product=Product.objects.get(code="axi-cel"), approval_date=dt.date(2024, 3, 1))
    apheresis = services.apheresis_record(actor=user, case=case, date=dt.date(2024, 3, 8), lymphocytes=0.6)
    attempt = services.attempt_record(
        actor=user, case=case, apheresis=apheresis, shipped_on=dt.date(2024, 3, 9), result_on=dt.date(2024, 3, 30),
        outcome=AttemptOutcome.OOS, viable_car_t_dose=1.2e8,
        failure_reasons=[FailureReason.objects.get(code="low_viability")],
    )
    viability = case.product.release_parameters.get(kind="viability")
    services.attempt_record_release_results(actor=user, attempt=attempt, values={viability: (61.0, "")})
    other = CaseFactory(patient=PatientFactory(centre=CentreFactory(code="ctrb"), local_id="B-0001"))
    return case, other


def test_centre_user_logs_in_and_opens_a_case_timeline(new_page, oos_case):
    case, other = oos_case
    page = new_page("clinician.a")
    page.get_by_role("link", name="Cases").first.click()
    assert page.get_by_role("link", name=case.public_id).is_visible()
    # Another centre's case is not listed.
    assert page.get_by_role("link", name=other.public_id).count() == 0
    page.get_by_role("link", name=case.public_id).click()
    timeline = page.get_by_label("Case timeline")
    assert "Panel approval" in timeline.inner_text()
    assert "Apheresis 1" in timeline.inner_text()
    attempt = page.locator("#attempt-1")
    assert "Out of specification" in attempt.inner_text()
    assert "Low cell viability" in attempt.inner_text()
    assert "fail" in attempt.get_by_role("row", name="Cell viability").inner_text().lower()
    assert "SmPC range" in attempt.inner_text()


def test_attempt_is_added_inline_with_htmx_and_errors_show_next_to_fields(new_page, oos_case):
    case, _ = oos_case
    page = new_page("clinician.a")
    page.goto(f"/cases/{case.pk}/")
    page.get_by_role("link", name="Add manufacturing attempt").click()
    form = page.locator("#form-slot form")
    form.get_by_label("Apheresis", exact=True).select_option(index=1)
    form.get_by_label("Shipped on").fill("2024-03-01")  # before the apheresis: refused
    form.get_by_role("button", name="Save").click()
    expect(page.locator("#form-slot .errorlist")).to_contain_text("cannot start before the apheresis")
    form = page.locator("#form-slot form")
    form.get_by_label("Shipped on").fill("2024-04-02")
    form.get_by_role("button", name="Save").click()
    expect(page.locator("#attempt-2")).to_contain_text("Manufacturing attempt 2")
    # The form slot is emptied once the attempt is saved.
    expect(page.locator("#form-slot form")).to_have_count(0)
