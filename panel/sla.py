"""The panel's service-level clock. Pure domain logic, no Django import.

The panel answers within a number of working days (Monday to Friday) of submission. Bank holidays
are not modelled: the operations manager chases manually around them, and counting them as working
days only ever makes the due time earlier, never later, than the centre was promised.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["add_working_days", "due_after_pause"]


def add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    """``start`` moved forward by ``days`` working days, keeping the time of day.

    A submission on Friday afternoon with 2 working days is due on Tuesday afternoon; one made
    at the weekend counts from the weekend, so it is due on Tuesday at the same time as well.
    """
    if days < 0:
        raise ValueError(f"The number of working days must be zero or more (got {days}).")
    due = start
    remaining = days
    while remaining:
        due += dt.timedelta(days=1)
        if due.weekday() < 5:
            remaining -= 1
    return due


def due_after_pause(due_at: dt.datetime, paused_at: dt.datetime | None, resumed_at: dt.datetime) -> dt.datetime:
    """``due_at`` moved on by the time the clock stood still, from ``paused_at`` to ``resumed_at``.

    While the panel waits for the centre's answer to an information request the SLA does not run:
    the centre's time is given back in full (wall-clock time, not working days, so an answer on a
    Saturday gives back the weekend too). A clock that was never paused, or an answer stamped
    before the question (clock skew between servers), moves nothing.
    """
    if paused_at is None or resumed_at <= paused_at:
        return due_at
    return due_at + (resumed_at - paused_at)
