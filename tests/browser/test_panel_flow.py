"""The OOS panel in the browser, each person in their own browser context.

The centre applies from the case page and submits; four physicians and a pharmacist vote from
their queues; the operations manager sends the decision letter; the centre downloads it. Also a
decline, recusals (automatic by affiliation, and a declared conflict) and a question from the
panel answered by the centre.
"""

import datetime as dt

import pytest
from playwright.sync_api import expect

from accounts.roles import Role
from cases import services as case_services
from cases.models import AttemptOutcome, FailureReason, Product
from panel import services
from panel.models import ApplicationStatus, MemberRole, OOSApplication
from tests.factories import CaseFactory, CentreFactory, PatientFactory, UserFactory
from tests.panel.factories import PanelMemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PHYSICIANS = ["phys.one", "phys.two", "phys.three", "phys.four", "phys.five"]
PHARMACISTS = ["pharm.one", "pharm.two", "pharm.three"]


@pytest.fixture
def world(reference_data, settings, tmp_path):
    """Centre A with an OOS product (viability 61 %), the national panel and its operations manager."""
    settings.MEDIA_ROOT = tmp_path
    centre = CentreFactory(code="ctra", name="Centre A")
    clinician = UserFactory(username="clinician.a", role=Role.CENTRE_USER, centre=centre,
                            email="clinician.a@centre-a.example")
    case = CaseFactory(patient=PatientFactory(centre=centre, local_id="A-0042"),
                       product=Product.objects.get(code="axi-cel"), approval_date=dt.date(2024, 3, 1))
    apheresis = case_services.apheresis_record(actor=clinician, case=case, date=dt.date(2024, 3, 8), lymphocytes=0.6)
    attempt = case_services.attempt_record(
        actor=clinician, case=case, apheresis=apheresis, shipped_on=dt.date(2024, 3, 9),
        result_on=dt.date(2024, 3, 30), outcome=AttemptOutcome.OOS, viable_car_t_dose=1.2e8,
        failure_reasons=[FailureReason.objects.get(code="low_viability")],
    )
    viability = case.product.release_parameters.get(kind="viability")
    case_services.attempt_record_release_results(actor=clinician, attempt=attempt, values={viability: (61.0, "")})
    members = {}
    for usernames, role, user_role in ((PHYSICIANS, MemberRole.PHYSICIAN, Role.PANEL_PHYSICIAN),
                                       (PHARMACISTS, MemberRole.PHARMACIST, Role.PANEL_PHARMACIST)):
        for username in usernames:
            user = UserFactory(username=username, role=user_role, email=f"{username}@panel.example")
            members[username] = PanelMemberFactory(role=role, user=user)
    ops = UserFactory(username="ops.manager", role=Role.OPS_MANAGER, email="ops@panel.example")
    return {"centre": centre, "clinician": clinician, "case": case, "attempt": attempt, "members": members,
            "ops": ops}


def _submitted(world) -> OOSApplication:
    """An application submitted through the services, for the paths that start at the panel."""
    draft = services.application_create_draft(user=world["clinician"], attempt=world["attempt"],
                                              clinical_justification="Refractory LBCL, no alternative",
                                              urgency="urgent", contact="Dr A, 0100")
    return services.application_submit(application_id=draft.pk, user=world["clinician"])


def _vote_from_queue(new_page, username, application, choice, comment=""):
    page = new_page(username)
    page.goto("/panel/queue/")
    page.get_by_role("link", name=f"Application {application.pk}").click()
    expect(page.get_by_role("heading", name="Vote", exact=True)).to_be_visible()
    panel = page.locator("#vote-panel")
    panel.get_by_label(choice.capitalize(), exact=True).check()
    if comment:
        panel.get_by_label("Comment").fill(comment)
    panel.get_by_role("button", name="Cast vote").click()
    # htmx swaps the vote panel in; without it the page reloads with the same message on top.
    expect(page.locator("main")).to_contain_text(f"Your vote ({choice}) is recorded.")
    return page


def test_centre_submits_panel_approves_ops_communicates_centre_sees_letter(new_page, world):
    # The centre applies from the OOS attempt on the case page and submits.
    centre = new_page("clinician.a")
    centre.goto(f"/cases/{world['case'].pk}/")
    centre.get_by_role("button", name="Apply to the OOS panel").click()
    expect(centre.get_by_text("Cell viability").first).to_be_visible()
    centre.get_by_label("Clinical justification").fill("Refractory LBCL after two lines; no alternative product.")
    centre.get_by_label("Urgency").select_option("urgent")
    centre.get_by_label("Contact at the centre").fill("Dr A Clinician, 0100 000 000")
    centre.get_by_role("button", name="Save draft").click()
    expect(centre.get_by_role("heading", name="OOS application")).to_contain_text("Draft")
    centre.get_by_role("button", name="Submit to the panel").click()
    centre.get_by_label("I confirm that this application is complete and correct").check()
    centre.get_by_role("button", name="Submit to the panel").click()
    expect(centre.locator(".messages")).to_contain_text("submitted: the panel has been notified")
    application = OOSApplication.objects.get(attempt=world["attempt"])
    assert application.status == ApplicationStatus.UNDER_REVIEW

    # A physician sees it in the queue with everything needed, and no patient identifier.
    first = new_page(PHYSICIANS[0])
    first.goto("/panel/queue/")
    row = first.get_by_role("row", name=f"Application {application.pk}")
    expect(row).to_contain_text("Yescarta")
    expect(row).to_contain_text("Urgent")
    expect(row).to_contain_text("left")
    row.get_by_role("link", name=f"Application {application.pk}").click()
    expect(first.get_by_role("table", name="Failed release parameters")).to_contain_text("61")
    expect(first.get_by_role("table", name="Patient summary")).to_contain_text("years")
    assert "A-0042" not in first.content()
    first.locator("#vote-panel").get_by_label("Approve", exact=True).check()
    first.locator("#vote-panel").get_by_label("Comment").fill("Benefit outweighs the viability shortfall.")
    first.get_by_role("button", name="Cast vote").click()
    expect(first.locator("#vote-panel")).to_contain_text("Your current vote: Approve")

    # Three more physicians approve: four approvals but no pharmacist yet, so still open.
    for username in PHYSICIANS[1:4]:
        _vote_from_queue(new_page, username, application, "approve")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.UNDER_REVIEW

    # The pharmacist's approval decides.
    pharmacist = _vote_from_queue(new_page, PHARMACISTS[0], application, "approve")
    panel = pharmacist.locator("#vote-panel")
    expect(pharmacist.locator("main")).to_contain_text("The panel's decision is made: approved.")
    expect(panel.get_by_role("heading", name="Decision")).to_be_visible()
    expect(panel.get_by_role("button", name="Cast vote")).to_have_count(0)
    pharmacist.reload()
    expect(pharmacist.locator("#vote-panel")).to_contain_text("Approved")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED

    # A late voter finds the application decided and no form.
    late = new_page(PHYSICIANS[4])
    late.goto(f"/panel/review/{application.pk}/")
    expect(late.locator("#vote-panel")).to_contain_text("votes are closed")
    expect(late.get_by_role("button", name="Cast vote")).to_have_count(0)

    # The operations manager communicates the decision from the review page.
    ops = new_page("ops.manager")
    ops.goto(f"/panel/review/{application.pk}/")
    expect(ops.get_by_text("Who has voted")).to_be_visible()
    ops.get_by_role("button", name="Communicate the decision").first.click()
    ops.get_by_label("Conditions").fill("Infuse within 7 days; report any CRS grade 3 or above.")
    assert "clinician.a@centre-a.example" in ops.get_by_label("Recipients").input_value()
    ops.get_by_role("button", name="Send decision letter").click()
    expect(ops.locator(".messages")).to_contain_text(f"The decision letter for application {application.pk} was sent.")

    # The centre sees the decision and downloads the letter.
    centre.goto(f"/panel/applications/{application.pk}/")
    expect(centre.get_by_role("heading", name="OOS application")).to_contain_text("Communicated")
    link = centre.get_by_role("button", name="Download the decision letter (PDF)")
    expect(link).to_be_visible()
    response = centre.request.get(link.get_attribute("href"))
    assert response.status == 200 and response.body().startswith(b"%PDF")


def test_three_physician_declines_decline_the_application(new_page, world):
    application = _submitted(world)
    _vote_from_queue(new_page, PHYSICIANS[0], application, "decline", "Viability far below specification.")
    _vote_from_queue(new_page, PHYSICIANS[1], application, "decline")
    page = _vote_from_queue(new_page, PHYSICIANS[2], application, "decline")
    expect(page.locator("main")).to_contain_text("The panel's decision is made: declined.")
    page.reload()
    expect(page.locator("#vote-panel .decision")).to_contain_text("Declined")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.DECLINED
    # The centre sees the decision on its page, the letter still to come.
    centre = new_page("clinician.a")
    centre.goto(f"/panel/applications/{application.pk}/")
    expect(centre.get_by_role("heading", name="OOS application")).to_contain_text("Declined")
    expect(centre.get_by_text("The operations manager will send the decision letter.")).to_be_visible()


def test_member_changes_vote_before_the_decision(new_page, world):
    application = _submitted(world)
    page = _vote_from_queue(new_page, PHYSICIANS[0], application, "decline", "Need the risk assessment")
    panel = page.locator("#vote-panel")
    panel.get_by_label("Approve", exact=True).check()
    panel.get_by_label("Comment").fill("Risk assessment read: approve")
    panel.get_by_role("button", name="Change vote").click()
    # The vote panel is swapped in place by htmx: its own notice, not a page message.
    expect(panel.locator(".notice")).to_contain_text("Your vote (approve) is changed.")
    expect(page.locator(".messages")).to_have_count(0)
    expect(panel).to_contain_text("Your vote history (2 versions)")
    page.goto("/panel/queue/")
    expect(page.get_by_role("region", name="Voted, still open")).to_contain_text("Approve")


def test_affiliated_member_is_recused_and_a_member_declares_a_conflict(new_page, world):
    affiliated = world["members"][PHYSICIANS[4]]
    affiliated.affiliations.add(world["centre"])
    application = _submitted(world)

    page = new_page(PHYSICIANS[4])
    page.goto("/panel/queue/")
    expect(page.get_by_role("region", name="Recused")).to_contain_text("Affiliated with the submitting centre ctra.")
    page.goto(f"/panel/review/{application.pk}/")
    expect(page.locator("#vote-panel")).to_contain_text("You are recused")
    expect(page.locator("#vote-panel")).to_contain_text("Affiliated with the submitting centre ctra.")
    expect(page.get_by_role("button", name="Cast vote")).to_have_count(0)
    expect(page.get_by_text("Declare a conflict of interest")).to_have_count(0)

    other = new_page(PHYSICIANS[0])
    other.goto(f"/panel/review/{application.pk}/")
    other.get_by_text("Declare a conflict of interest").click()
    other.get_by_role("textbox", name="Conflict of interest").fill("I referred this patient to the centre.")
    other.get_by_role("button", name="Declare conflict").click()
    expect(other.locator(".messages")).to_contain_text("you are recused from this application")
    expect(other.locator("#vote-panel")).to_contain_text("You are recused")
    expect(other.locator("#vote-panel")).to_contain_text("I referred this patient to the centre.")
    expect(other.get_by_role("button", name="Cast vote")).to_have_count(0)
    # Recused members no longer count: 6 of the 8 remain eligible.
    expect(other.get_by_role("table", name="Tally")).to_contain_text("of 6 eligible")


def test_information_request_round_trip(new_page, world):
    application = _submitted(world)
    member = new_page(PHYSICIANS[0])
    member.goto(f"/panel/review/{application.pk}/")
    member.get_by_label("Question to the centre").fill("Was the viability re-tested after thawing?")
    member.get_by_role("button", name="Ask the centre").click()
    expect(member.locator(".messages")).to_contain_text("Your question is sent to the centre")
    expect(member.get_by_text("Information requested", exact=True).first).to_be_visible()
    expect(member.get_by_role("button", name="Cast vote")).to_have_count(0)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.INFO_REQUESTED and application.sla_paused_at is not None
    due_before = application.sla_due_at

    centre = new_page("clinician.a")
    centre.goto(f"/panel/applications/{application.pk}/")
    expect(centre.get_by_text("Was the viability re-tested after thawing?")).to_be_visible()
    centre.get_by_label("Your answer").fill("Yes: 64 % after thawing, certificate attached next week.")
    centre.get_by_role("button", name="Send the answer").click()
    expect(centre.locator(".messages")).to_contain_text("the panel's review has resumed")

    member.reload()
    expect(member.get_by_text("Under review").first).to_be_visible()
    expect(member.get_by_label("Question to the centre")).to_be_visible()
    expect(member.locator("#information")).to_contain_text("64 % after thawing")
    expect(member.get_by_role("button", name="Cast vote")).to_be_visible()
    application.refresh_from_db()
    assert application.status == ApplicationStatus.UNDER_REVIEW and application.sla_paused_at is None
    assert application.sla_due_at >= due_before
