"""The demo registry's panel: every seat, and applications in every state, written by the panel's services."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test.utils import override_settings

from audit.models import AuditEvent
from cases import models as m
from cases.demo import registry_reset
from panel.models import ApplicationStatus, MemberRole, OOSApplication, PanelMember, Vote
from panel.selectors import eligible_members

SEED = 2025


def seed_demo(*args):
    out = io.StringIO()
    call_command("seed_demo", "--seed", str(SEED), *args, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    """The default demo, loaded once and rolled back after the module (letters in a temporary folder)."""
    media = tmp_path_factory.mktemp("private")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=media), transaction.atomic():
        registry_reset()
        output = seed_demo()
        yield {"output": output, "media": media}
        transaction.set_rollback(True)


def _statuses():
    return sorted(OOSApplication.objects.values_list("status", flat=True))


@pytest.mark.django_db
def test_full_panel_is_seated_with_some_centres_left_unaffiliated(demo):
    seats = PanelMember.objects.filter(active_to__isnull=True).select_related("user")
    by_role = {role: sorted(s.user.username for s in seats if s.role == role) for role in MemberRole.values}
    assert by_role == {"physician": [f"physician{i}" for i in range(1, 6)],
                       "pharmacist": [f"pharmacist{i}" for i in range(1, 4)], "ops": ["ops"]}
    affiliated = set(m.Centre.objects.filter(panel_members__isnull=False).values_list("code", flat=True))
    assert 2 <= len(affiliated) and m.Centre.objects.exclude(code__in=affiliated).count() >= 3
    deputy = PanelMember.objects.get(user__username="physician5")
    assert deputy.deputy_of.user.username == "physician1"


@pytest.mark.django_db
def test_applications_in_every_state(demo):
    statuses = set(_statuses())
    assert {ApplicationStatus.DRAFT, ApplicationStatus.UNDER_REVIEW, ApplicationStatus.INFO_REQUESTED,
            ApplicationStatus.APPROVED, ApplicationStatus.DECLINED, ApplicationStatus.COMMUNICATED,
            ApplicationStatus.INFUSED, ApplicationStatus.NOT_INFUSED} <= statuses
    under_review = OOSApplication.objects.filter(status=ApplicationStatus.UNDER_REVIEW)
    assert under_review.filter(votes__isnull=False).distinct().count() >= 1
    assert "OOS applications" in demo["output"] and "Panel: 9 seats" in demo["output"]


@pytest.mark.django_db
def test_contract_application_under_review_without_votes_from_an_unaffiliated_centre(demo):
    candidates = [application for application in OOSApplication.objects.filter(
        status=ApplicationStatus.UNDER_REVIEW, votes__isnull=True).select_related("centre")
        if not application.centre.panel_members.exists()]
    assert candidates
    # Nobody is recused from it: the whole voting panel may vote.
    assert eligible_members(candidates[0]).count() == 8


@pytest.mark.django_db
def test_communicated_applications_have_their_letters(demo):
    communicated = OOSApplication.objects.filter(communication__isnull=False).select_related("communication")
    assert communicated.count() == 3
    for application in communicated:
        letter = Path(demo["media"]) / application.communication.letter.name
        assert letter.read_bytes().startswith(b"%PDF-")
    assert AuditEvent.objects.filter(code="panel.decision.communicated").count() == 3


@pytest.mark.django_db
def test_infused_application_has_a_pending_regulatory_deadline(demo):
    infused = OOSApplication.objects.get(status=ApplicationStatus.INFUSED)
    assert infused.regulatory_deadline_at is not None
    assert infused.manufacturer_notified_at is None and infused.authority_notified_at is None


@pytest.mark.django_db
def test_everything_went_through_the_services(demo):
    submitted = OOSApplication.objects.exclude(status=ApplicationStatus.DRAFT).count()
    assert AuditEvent.objects.filter(code="panel.application.submitted").count() == submitted
    assert AuditEvent.objects.filter(code__in=["panel.vote.cast", "panel.vote.changed"]).count() == \
        Vote.objects.count()
    assert AuditEvent.objects.filter(code="panel.member.created").count() >= 9
    assert all(application.history.exists() for application in OOSApplication.objects.all())


@pytest.mark.django_db
def test_applications_only_for_oos_attempts_and_registry_untouched(demo):
    assert not OOSApplication.objects.exclude(attempt__outcome=m.AttemptOutcome.OOS).exists()
    assert m.Infusion.objects.count() == m.Case.objects.filter(infusion__isnull=False).count()


@pytest.mark.django_db
def test_reset_reloads_the_same_panel_demo(demo):
    before = sorted(OOSApplication.objects.values_list("case__public_id", "status"))
    members = PanelMember.objects.count()
    with override_settings(MEDIA_ROOT=demo["media"]):
        seed_demo("--reset")
    assert sorted(OOSApplication.objects.values_list("case__public_id", "status")) == before
    assert PanelMember.objects.count() == members


@pytest.mark.django_db
def test_small_registry_still_seeds_the_contract_application(demo):
    with override_settings(MEDIA_ROOT=demo["media"]):
        seed_demo("--reset", "--size", "100")
    assert OOSApplication.objects.filter(status=ApplicationStatus.UNDER_REVIEW, votes__isnull=True).exists()
