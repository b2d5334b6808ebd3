"""How the panel performs: volumes, approval rate, decision and communication times, workload.

Times are in days from submission. Percentiles are linear-interpolated (numpy's default, as in
R's type 7). An application counts in the month it was submitted.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict

from django.utils import timezone

from panel.models import Communication, Decision, OOSApplication, Reminder, Vote

_DAY = 86400.0
COMMUNICATED_WITHIN_DAYS = 3


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (R type 7); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclasses.dataclass
class PeriodStats:
    period: str
    applications: int = 0
    decided: int = 0
    approved: int = 0
    communicated: int = 0
    communicated_within_3_days: int = 0
    reminders: int = 0
    escalations: int = 0
    votes: int = 0
    decision_days: list = dataclasses.field(default_factory=list, repr=False)
    communication_days: list = dataclasses.field(default_factory=list, repr=False)

    @property
    def approval_rate(self) -> float | None:
        return self.approved / self.decided if self.decided else None

    @property
    def communicated_within_share(self) -> float | None:
        return self.communicated_within_3_days / self.communicated if self.communicated else None

    def row(self) -> dict:
        return {
            "period": self.period, "applications": self.applications, "decided": self.decided,
            "approved": self.approved, "approval_rate": self.approval_rate,
            "decision_median_days": percentile(self.decision_days, 0.5),
            "decision_p90_days": percentile(self.decision_days, 0.9),
            "communication_median_days": percentile(self.communication_days, 0.5),
            "communication_p90_days": percentile(self.communication_days, 0.9),
            "communicated": self.communicated, "communicated_within_3_days_share": self.communicated_within_share,
            "votes": self.votes, "reminders": self.reminders, "escalations": self.escalations,
        }


COLUMNS = ["period", "applications", "decided", "approved", "approval_rate", "decision_median_days",
           "decision_p90_days", "communication_median_days", "communication_p90_days", "communicated",
           "communicated_within_3_days_share", "votes", "reminders", "escalations"]


def _month(value) -> str:
    return f"{timezone.localtime(value):%Y-%m}"


def panel_performance() -> dict:
    """{"months": [row...], "overall": row, "members": [{"member", "role", "votes"}]} — five queries."""
    submitted = dict(OOSApplication.objects.filter(submitted_at__isnull=False).values_list("pk", "submitted_at"))
    months: dict[str, PeriodStats] = {}
    overall = PeriodStats("overall")

    def stats_for(application_id):
        key = _month(submitted[application_id])
        return months.setdefault(key, PeriodStats(key)), overall

    for application_id in submitted:
        for stats in stats_for(application_id):
            stats.applications += 1
    for application_id, outcome, decided_at in Decision.objects.values_list("application_id", "outcome",
                                                                            "decided_at"):
        if application_id not in submitted:
            continue
        days = (decided_at - submitted[application_id]).total_seconds() / _DAY
        for stats in stats_for(application_id):
            stats.decided += 1
            stats.approved += outcome == "approved"
            stats.decision_days.append(days)
    for application_id, sent_at in Communication.objects.values_list("application_id", "sent_at"):
        if application_id not in submitted:
            continue
        days = (sent_at - submitted[application_id]).total_seconds() / _DAY
        for stats in stats_for(application_id):
            stats.communicated += 1
            stats.communicated_within_3_days += days <= COMMUNICATED_WITHIN_DAYS
            stats.communication_days.append(days)
    for application_id, kind in Reminder.objects.values_list("application_id", "kind"):
        if application_id not in submitted:
            continue
        for stats in stats_for(application_id):
            if kind == "escalation":
                stats.escalations += 1
            else:
                stats.reminders += 1
    per_member = Counter()
    members = {}
    for application_id, member_id, username, role in Vote.objects.values_list(
            "application_id", "member_id", "member__user__username", "member__role"):
        per_member[member_id] += 1
        members[member_id] = (username, role)
        if application_id in submitted:
            for stats in stats_for(application_id):
                stats.votes += 1
    by_role = defaultdict(int)
    for member_id, n in per_member.items():
        by_role[members[member_id][1]] += n
    return {
        "months": [months[key].row() for key in sorted(months)],
        "overall": overall.row(),
        "members": [{"member": members[m][0], "role": members[m][1], "votes": n}
                    for m, n in sorted(per_member.items(), key=lambda item: (-item[1], members[item[0]][0]))],
        "votes_per_member": (sum(per_member.values()) / len(per_member)) if per_member else None,
    }


def bar_chart_svg(points: list[tuple[str, float | None]], *, title: str, unit: str = "", width: int = 640,
                  height: int = 200) -> str:
    """A bar chart as SVG text (no script, no external reference); None values are left empty."""
    from django.utils.html import escape

    pad_left, pad_bottom, pad_top = 40, 30, 24
    values = [v for _, v in points if v is not None]
    top = max(values) if values else 1
    top = top or 1
    n = max(len(points), 1)
    slot = (width - pad_left - 10) / n
    plot_h = height - pad_bottom - pad_top
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}" class="chart">',
             f'<text x="{pad_left}" y="14" font-size="12" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{pad_left}" y1="{height - pad_bottom}" x2="{width - 10}" y2="{height - pad_bottom}" '
             'stroke="currentColor" stroke-width="1"/>',
             f'<text x="{pad_left - 4}" y="{pad_top + 8}" font-size="10" text-anchor="end">{top:.3g}</text>']
    for i, (label, value) in enumerate(points):
        x = pad_left + i * slot + slot * 0.15
        if value is not None:
            h = plot_h * value / top
            parts.append(f'<rect x="{x:.1f}" y="{height - pad_bottom - h:.1f}" width="{slot * 0.7:.1f}" '
                         f'height="{h:.1f}" fill="#1095c1"><title>{escape(label)}: {value:.3g}{escape(unit)}'
                         '</title></rect>')
        if n <= 24 or i % max(n // 12, 1) == 0:
            parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{height - pad_bottom + 14}" font-size="9" '
                         f'text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
