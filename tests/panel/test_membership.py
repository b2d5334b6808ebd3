"""Managing the panel's membership: services with audit and history, validation, the page."""

import datetime as dt

import pytest
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditEvent
from cases.errors import DomainError
from panel import membership
from panel.models import MemberRole, PanelMember
from tests.factories import CentreFactory, UserFactory
from tests.panel.factories import PanelMemberFactory

pytestmark = pytest.mark.django_db
PHYSICIAN, PHARMACIST, OPS = MemberRole.PHYSICIAN, MemberRole.PHARMACIST, MemberRole.OPS
JAN = dt.date(2026, 1, 1)


@pytest.fixture
def ops(personas):
    return personas["ops"]


def _add(ops, user, role=PHYSICIAN, **kwargs):
    kwargs.setdefault("active_from", JAN)
    return membership.member_add(user=ops, member_user=user, role=role, **kwargs)


def test_add_member_with_affiliations_is_audited_with_history(ops, centre_a):
    person = UserFactory(role=Role.PANEL_PHYSICIAN)
    member = _add(ops, person, affiliations=[centre_a])
    assert list(member.affiliations.all()) == [centre_a]
    event = AuditEvent.objects.get(code="panel.member.created")
    assert event.actor == ops and event.changes["affiliations"] == [None, ["ctra"]]
    assert member.history.first().history_user == ops


def test_end_membership_and_change_affiliations(ops, centre_a, centre_b):
    member = _add(ops, UserFactory(role=Role.PANEL_PHYSICIAN), affiliations=[centre_a])
    membership.member_update(user=ops, member_id=member.pk, active_from=JAN, active_to=dt.date(2026, 6, 30),
                             affiliations=[centre_b], deputy_of=None)
    member.refresh_from_db()
    assert member.active_to == dt.date(2026, 6, 30) and list(member.affiliations.all()) == [centre_b]
    event = AuditEvent.objects.get(code="panel.member.ended")
    assert event.changes["active_to"] == [None, "2026-06-30"]
    assert event.changes["affiliations"] == [["ctra"], ["ctrb"]]
    assert member.history.count() >= 2


def test_update_without_change_writes_no_event(ops):
    member = _add(ops, UserFactory(role=Role.PANEL_PHYSICIAN))
    membership.member_update(user=ops, member_id=member.pk, active_from=JAN, active_to=None, affiliations=[],
                             deputy_of=None)
    assert not AuditEvent.objects.filter(code__in=["panel.member.changed", "panel.member.ended"]).exists()


@pytest.mark.parametrize(("kwargs", "message", "field"), [
    ({"active_to": dt.date(2025, 12, 31)}, "cannot be before its first day", "active_to"),
    ({"role": PHARMACIST}, "needs a user with the role panel pharmacist", "user"),
])
def test_validation(ops, kwargs, message, field):
    with pytest.raises(DomainError, match=message) as error:
        _add(ops, UserFactory(role=Role.PANEL_PHYSICIAN), **kwargs)
    assert error.value.field == field
    assert not PanelMember.objects.exists()


def test_one_open_seat_and_no_overlapping_periods(ops):
    person = UserFactory(role=Role.PANEL_PHYSICIAN)
    _add(ops, person, active_to=dt.date(2026, 3, 31))
    with pytest.raises(DomainError, match="already has a seat during these dates"):
        _add(ops, person, active_from=dt.date(2026, 3, 1))
    second = _add(ops, person, active_from=dt.date(2026, 4, 1))
    with pytest.raises(DomainError, match="already holds an open seat"):
        _add(ops, person, active_from=dt.date(2027, 1, 1))
    assert second.active_to is None


def test_deputy_must_have_the_same_role_and_not_be_circular(ops):
    physician = _add(ops, UserFactory(role=Role.PANEL_PHYSICIAN))
    with pytest.raises(DomainError, match="same role") as error:
        _add(ops, UserFactory(role=Role.PANEL_PHARMACIST), role=PHARMACIST, deputy_of=physician)
    assert error.value.field == "deputy_of"
    deputy = _add(ops, UserFactory(role=Role.PANEL_PHYSICIAN), deputy_of=physician)
    with pytest.raises(DomainError, match="each other's deputies"):
        membership.member_update(user=ops, member_id=physician.pk, active_from=JAN, active_to=None,
                                 affiliations=[], deputy_of=deputy)
    with pytest.raises(DomainError, match="own deputy"):
        membership.member_update(user=ops, member_id=physician.pk, active_from=JAN, active_to=None,
                                 affiliations=[], deputy_of=physician)


def test_ops_seat_has_no_affiliations(ops, centre_a):
    with pytest.raises(DomainError, match="no centre affiliations"):
        _add(ops, UserFactory(role=Role.OPS_MANAGER), role=OPS, affiliations=[centre_a])


@pytest.mark.parametrize("role", ["centre_a", "physician", "pharmacist", "analyst"])
def test_only_ops_and_admins_manage(personas, role):
    with pytest.raises(DomainError, match="Only the operations manager or an admin"):
        _add(personas[role], UserFactory(role=Role.PANEL_PHYSICIAN))


# --- pages ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("role", "status"), [("centre_a", 403), ("physician", 403), ("pharmacist", 403),
                                               ("analyst", 403), ("ops", 200), ("admin", 200)])
def test_member_pages_permissions(client, personas, role, status):
    member = PanelMemberFactory()
    client.force_login(personas[role])
    for url in (reverse("panel:members"), reverse("panel:member_add"), reverse("panel:member_edit", args=[member.pk])):
        assert client.get(url).status_code == status, url


def test_member_list_shows_members_and_warns_when_the_rule_is_out_of_reach(client, ops, centre_a):
    PanelMemberFactory(role=PHYSICIAN, affiliations=[centre_a])
    PanelMemberFactory(role=PHARMACIST, active_to=dt.date(2021, 1, 1))
    client.force_login(ops)
    page = client.get(reverse("panel:members")).content.decode()
    assert "ctra" in page and "ended" in page and "serving" in page
    assert "cannot approve any application now (2 physician(s) and 1 pharmacist(s) missing)" in page


def test_member_list_empty_state(client, ops):
    client.force_login(ops)
    assert "The panel has no members yet." in client.get(reverse("panel:members")).content.decode()


def test_member_list_queries_do_not_grow(client, ops, django_assert_max_num_queries):
    centres = [CentreFactory() for _ in range(3)]
    for _ in range(3):
        PanelMemberFactory(affiliations=centres)
    client.force_login(ops)
    with django_assert_max_num_queries(12) as small:
        client.get(reverse("panel:members"))
    for _ in range(30):
        PanelMemberFactory(affiliations=centres)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(reverse("panel:members")).status_code == 200


def test_add_member_page_saves_and_reports_errors(client, ops, centre_a):
    person = UserFactory(role=Role.PANEL_PHARMACIST, username="newpharm")
    client.force_login(ops)
    url = reverse("panel:member_add")
    bad = client.post(url, {"user": person.pk, "role": PHYSICIAN, "active_from": "2026-01-01"})
    assert bad.status_code == 400 and "needs a user with the role panel physician" in bad.content.decode()
    dates = client.post(url, {"user": person.pk, "role": PHARMACIST, "active_from": "2026-02-01",
                              "active_to": "2026-01-01"})
    assert dates.status_code == 400 and "cannot be before its first day" in dates.content.decode()
    good = client.post(url, {"user": person.pk, "role": PHARMACIST, "active_from": "2026-01-01",
                             "affiliations": [centre_a.pk]})
    assert good.status_code == 302
    assert PanelMember.objects.get(user=person).affiliations.get() == centre_a


def test_edit_member_page_ends_membership(client, ops):
    member = PanelMemberFactory()
    client.force_login(ops)
    response = client.post(reverse("panel:member_edit", args=[member.pk]),
                           {"active_from": "2020-01-01", "active_to": "2026-01-31"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.active_to == dt.date(2026, 1, 31)


def test_edit_unknown_member_is_404(client, ops):
    client.force_login(ops)
    assert client.get(reverse("panel:member_edit", args=[424242])).status_code == 404


def test_add_form_offers_only_panel_users_without_an_open_seat(client, ops):
    seated = PanelMemberFactory(user=UserFactory(role=Role.PANEL_PHYSICIAN, username="seated-physician")).user
    free = UserFactory(role=Role.PANEL_PHARMACIST, username="free-pharmacist")
    UserFactory(role=Role.CENTRE_USER, username="a-centre-user")
    client.force_login(ops)
    page = client.get(reverse("panel:member_add")).content.decode()
    assert f">{free.username}<" in page
    assert f">{seated.username}<" not in page and ">a-centre-user<" not in page
