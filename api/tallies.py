"""The tallies of a page of applications in a fixed number of queries.

``panel.selectors.application_tally`` counts one application (three queries each); a list page
would then grow with its size. This computes the same thing for many applications at once from
the same definitions: the members eligible today (``eligible_members``: active voting members,
not recused, not affiliated with the centre) and their current votes. A decided application
keeps the tally its decision was taken on. ``tests/api`` checks both agree.
"""

from collections import defaultdict

from django.utils import timezone

from panel import rules
from panel.models import VOTING_ROLES, PanelMember, Recusal, Vote
from panel.selectors import application_tally

_KEYS = ("approve", "approve_physicians", "approve_pharmacists", "decline", "abstain", "not_voted")


def _decided(application):
    return getattr(application, "decision", None)


def tallies_for(applications) -> dict[int, dict]:
    """Application id → tally in the API's shape, for the given applications."""
    applications = list(applications)
    result = {app.pk: application_tally(application=app) for app in applications if _decided(app) is not None}
    open_apps = [app for app in applications if app.pk not in result]
    if not open_apps:
        return result
    today = timezone.localdate()
    members = [member for member in PanelMember.objects.filter(role__in=VOTING_ROLES)
               .prefetch_related("affiliations") if member.is_active_on(today)]
    affiliations = {member.pk: {centre.pk for centre in member.affiliations.all()} for member in members}
    ids = [app.pk for app in open_apps]
    recused = defaultdict(set)
    for application_id, member_id in Recusal.objects.filter(application_id__in=ids).values_list(
            "application_id", "member_id"):
        recused[application_id].add(member_id)
    votes = defaultdict(dict)
    for application_id, member_id, choice in Vote.objects.filter(application_id__in=ids).values_list(
            "application_id", "member_id", "choice"):
        votes[application_id][member_id] = choice
    for app in open_apps:
        eligible = [(member.pk, member.role) for member in members
                    if member.pk not in recused[app.pk] and app.centre_id not in affiliations[member.pk]]
        eligible_ids = {member_id for member_id, _ in eligible}
        current = {member_id: choice for member_id, choice in votes[app.pk].items() if member_id in eligible_ids}
        tally = rules.tally(eligible, current)
        result[app.pk] = {**{key: getattr(tally, key) for key in _KEYS}, "eligible": tally.eligible,
                          "outcome": tally.outcome.value}
    return result
