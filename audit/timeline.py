"""One chronological audit trail over workflow events and row history.

Two sources, merged by time: ``AuditEvent`` (logins, failed logins, submissions, votes, recusals,
information requests, decisions, communications, downloads, exports...) and every
django-simple-history table (field-level before/after of each saved row). The merge is one
UNION over (source, id, time) keys, ordered and sliced in the database, so a page or an export
never loads the whole trail; each slice is then filled in with one query per source.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import CharField, F, OuterRef, Q, QuerySet, Subquery, Value
from django.utils import timezone
from simple_history.models import registered_models

from audit.models import AuditEvent
from audit.services import _masked

HISTORY = "history"
HISTORY_VERBS = {"+": "created", "~": "changed", "-": "deleted"}
_AUDIT_SOURCE = "audit"


@dataclasses.dataclass(frozen=True)
class TimelineFilters:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    centre: str = ""
    product: str = ""
    application: int | None = None
    user: str = ""
    event_type: str = ""  # an audit code (or its prefix, e.g. "panel.vote"), or "history"

    def as_query(self) -> dict:
        return {key: value for key, value in dataclasses.asdict(self).items() if value not in (None, "")}


@dataclasses.dataclass
class TimelineEntry:
    when: dt.datetime
    kind: str
    actor: str
    role: str
    ip: str
    object_type: str
    object_repr: str
    centre: str
    changes: dict
    context: dict

    def as_row(self) -> list:
        return [timezone.localtime(self.when).isoformat(timespec="seconds"), self.kind, self.actor, self.role,
                self.ip, self.object_type, self.object_repr, self.centre, _json(self.changes), _json(self.context)]


COLUMNS = ["time", "event", "actor", "role", "ip", "object_type", "object", "centre", "changes", "context"]


def _json(value) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True) if value else ""


def _history_models() -> dict[str, type]:
    """Label of each tracked model ("cases.case") → its historical model."""
    return {model._meta.label_lower: model.history.model for model in registered_models.values()
            if hasattr(model, "history")}


# How a tracked row reaches its centre, product and application (first path that exists wins).
_CENTRE_PATHS = ("centre__code", "case__centre__code", "application__centre__code", "attempt__case__centre__code")
_PRODUCT_PATHS = ("product__code", "case__product__code", "application__case__product__code",
                  "attempt__case__product__code")


def _field_names(model) -> set[str]:
    return {field.name for field in model._meta.get_fields()}


def _path(model, paths) -> str | None:
    names = _field_names(model)
    return next((path for path in paths if path.split("__")[0] in names), None)


def _window(field: str, filters: TimelineFilters) -> Q:
    q = Q()
    tz = timezone.get_current_timezone()
    if filters.date_from:
        q &= Q(**{f"{field}__gte": dt.datetime.combine(filters.date_from, dt.time.min, tz)})
    if filters.date_to:
        q &= Q(**{f"{field}__lt": dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time.min, tz)})
    return q


def audit_events(filters: TimelineFilters) -> QuerySet[AuditEvent]:
    queryset = AuditEvent.objects.filter(_window("created_at", filters))
    if filters.event_type and filters.event_type != HISTORY:
        queryset = queryset.filter(Q(code=filters.event_type) | Q(code__startswith=f"{filters.event_type}."))
    if filters.centre:
        queryset = queryset.filter(centre_code=filters.centre)
    if filters.user:
        queryset = queryset.filter(actor_username=filters.user)
    if filters.application:
        queryset = queryset.filter(Q(context__application=filters.application)
                                   | Q(object_type="panel.oosapplication", object_id=str(filters.application)))
    if filters.product:
        from cases.models import Case
        from panel.models import OOSApplication

        applications = list(OOSApplication.objects.filter(case__product__code=filters.product)
                            .values_list("pk", flat=True))
        cases = [str(pk) for pk in Case.objects.filter(product__code=filters.product).values_list("pk", flat=True)]
        queryset = queryset.filter(Q(context__application__in=applications)
                                   | Q(object_type="cases.case", object_id__in=cases))
    return queryset


def history_records(label: str, model, filters: TimelineFilters) -> QuerySet | None:
    """The history rows of one tracked model matching the filters, or None when none can match."""
    if filters.event_type and filters.event_type != HISTORY:
        return None
    queryset = model.objects.filter(_window("history_date", filters))
    if filters.user:
        queryset = queryset.filter(history_user__username=filters.user)
    for value, paths in ((filters.centre, _CENTRE_PATHS), (filters.product, _PRODUCT_PATHS)):
        if value:
            path = _path(model, paths)
            if path is None:
                return None
            queryset = queryset.filter(**{path: value})
    if filters.application:
        if label == "panel.oosapplication":
            queryset = queryset.filter(id=filters.application)
        elif "application" in _field_names(model):
            queryset = queryset.filter(application_id=filters.application)
        else:
            return None
    return queryset


def _keys(filters: TimelineFilters) -> QuerySet | None:
    """UNION of (source, pk, when) over every source matching the filters."""
    parts = []
    events = audit_events(filters)
    if not (filters.event_type == HISTORY):
        parts.append(events.annotate(tl_source=Value(_AUDIT_SOURCE, output_field=CharField()), tl_key=F("id"),
                                     tl_when=F("created_at")).values_list("tl_source", "tl_key", "tl_when"))
    for label, model in sorted(_history_models().items()):
        records = history_records(label, model, filters)
        if records is not None:
            parts.append(records.annotate(tl_source=Value(label, output_field=CharField()),
                                          tl_key=F("history_id"), tl_when=F("history_date"))
                         .values_list("tl_source", "tl_key", "tl_when"))
    if not parts:
        return None
    first, *rest = [part.order_by() for part in parts]
    return first.union(*rest, all=True) if rest else first


def count(filters: TimelineFilters) -> int:
    keys = _keys(filters)
    return keys.count() if keys is not None else 0


def _hydrate(keys: list[tuple[str, int, dt.datetime]]) -> list[TimelineEntry]:
    by_source = defaultdict(list)
    for source, key, _ in keys:
        by_source[source].append(key)
    entries: dict[tuple[str, int], TimelineEntry] = {}
    models = _history_models()
    for source, ids in by_source.items():
        if source == _AUDIT_SOURCE:
            for event in AuditEvent.objects.filter(pk__in=ids):
                entries[(source, event.pk)] = TimelineEntry(
                    when=event.created_at, kind=event.code, actor=event.actor_username, role=event.actor_role,
                    ip=event.ip or "", object_type=event.object_type, object_repr=event.object_repr,
                    centre=event.centre_code, changes=event.changes, context=event.context)
            continue
        model = models[source]
        related = ["history_user"] + (["centre"] if "centre" in _field_names(model) else [])
        previous_id = Subquery(model.objects.filter(id=OuterRef("id"), history_date__lte=OuterRef("history_date"),
                                                    history_id__lt=OuterRef("history_id"))
                               .order_by("-history_date", "-history_id").values("history_id")[:1])
        records = list(model.objects.filter(history_id__in=ids).select_related(*related)
                       .annotate(previous_history_id=previous_id))
        previous = model.objects.in_bulk([r.previous_history_id for r in records if r.previous_history_id])
        for record in records:
            entries[(source, record.history_id)] = _history_entry(source, record,
                                                                  previous.get(record.previous_history_id))
    return [entries[(source, key)] for source, key, _ in keys if (source, key) in entries]


def _history_entry(label: str, record, previous) -> TimelineEntry:
    changes = {}
    if record.history_type == "~" and previous is not None:
        delta = record.diff_against(previous)
        changes = {change.field: [change.old, change.new] for change in delta.changes}
    elif record.history_type == "+":
        changes = {"created": [None, str(record.instance)[:200]]}
    user = record.history_user
    centre = ""
    path = _path(type(record), _CENTRE_PATHS)
    if path and path == "centre__code":
        centre = getattr(record.centre, "code", "") if record.centre_id else ""
    return TimelineEntry(
        when=record.history_date, kind=f"{HISTORY}.{label}.{HISTORY_VERBS.get(record.history_type, 'saved')}",
        actor=user.username if user else "", role=getattr(user, "role", "") if user else "", ip="",
        object_type=label, object_repr=f"{label.split('.')[-1]} {record.id}", centre=centre,
        changes=_jsonable(_masked(changes)), context={"reason": record.history_change_reason} if
        record.history_change_reason else {})


def _jsonable(values: dict) -> dict:
    return json.loads(json.dumps(values, cls=DjangoJSONEncoder, default=str))


def page(filters: TimelineFilters, *, offset: int, limit: int) -> list[TimelineEntry]:
    """Entries ``offset``..``offset + limit`` of the trail, newest first."""
    keys = _keys(filters)
    if keys is None:
        return []
    return _hydrate(list(keys.order_by("-tl_when", "-tl_key")[offset:offset + limit]))


def iterate(filters: TimelineFilters, *, chunk_size: int = 2000) -> Iterator[TimelineEntry]:
    """Every entry oldest first, read through a server-side cursor in chunks (never all in memory)."""
    keys = _keys(filters)
    if keys is None:
        return
    batch = []
    for key in keys.order_by("tl_when", "tl_key").iterator(chunk_size=chunk_size):
        batch.append(key)
        if len(batch) >= chunk_size:
            yield from _hydrate(batch)
            batch = []
    if batch:
        yield from _hydrate(batch)


