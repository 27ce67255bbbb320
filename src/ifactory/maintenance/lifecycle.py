"""The work order lifecycle: states, allowed transitions, and which role may make each one.

requested → approved → scheduled → in_progress ⇄ on_hold → completed → closed, and cancelled
from any open state. A planner (or manager) approves, schedules, closes and cancels; a
technician starts, holds, resumes and completes; an operator only requests; admin may do all.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum


class WorkOrderState(StrEnum):
    """Where a work order is in its lifecycle."""

    requested = "requested"
    approved = "approved"
    scheduled = "scheduled"
    in_progress = "in_progress"
    on_hold = "on_hold"
    completed = "completed"
    closed = "closed"
    cancelled = "cancelled"


class WorkOrderType(StrEnum):
    """Why the work is done (EN 13306: corrective, preventive, condition-based/predictive...)."""

    corrective = "corrective"
    preventive = "preventive"
    predictive = "predictive"
    inspection = "inspection"
    improvement = "improvement"


class Priority(StrEnum):
    """How soon the work is needed."""

    low = "low"
    medium = "medium"
    high = "high"
    urgent = "urgent"


S = WorkOrderState
PLANNING = frozenset({"planner", "manager"})
EXECUTION = frozenset({"technician"})

# from -> to -> roles that may make the move (admin may make every move).
TRANSITIONS: dict[WorkOrderState, dict[WorkOrderState, frozenset[str]]] = {
    S.requested: {S.approved: PLANNING, S.scheduled: PLANNING, S.cancelled: PLANNING},
    S.approved: {S.scheduled: PLANNING, S.cancelled: PLANNING},
    S.scheduled: {
        S.in_progress: EXECUTION,
        S.approved: PLANNING,  # taken off the schedule
        S.cancelled: PLANNING,
    },
    S.in_progress: {S.on_hold: EXECUTION | PLANNING, S.completed: EXECUTION},
    S.on_hold: {
        S.in_progress: EXECUTION,
        S.scheduled: PLANNING,  # rescheduled after waiting (parts, production window)
        S.cancelled: PLANNING,
    },
    # Completion is reviewed: the planner closes it, or sends it back when the fault persists.
    S.completed: {S.closed: PLANNING, S.in_progress: PLANNING},
    S.closed: {},
    S.cancelled: {},
}
INITIAL_STATES = (S.requested, S.approved, S.scheduled)
OPEN_STATES = (S.requested, S.approved, S.scheduled, S.in_progress, S.on_hold)
# A reason is asked for when work stops or is dropped.
NEEDS_COMMENT = frozenset({S.on_hold, S.cancelled})


def allowed(current: WorkOrderState) -> list[WorkOrderState]:
    """The states a work order in `current` may move to."""
    return list(TRANSITIONS[current])


def roles_for(current: WorkOrderState, to: WorkOrderState) -> frozenset[str] | None:
    """The roles that may move a work order from `current` to `to` (None: not a transition)."""
    return TRANSITIONS[current].get(to)


def may(roles: Collection[str], current: WorkOrderState, to: WorkOrderState) -> bool:
    """Whether a holder of `roles` may move a work order from `current` to `to`."""
    needed = roles_for(current, to)
    if needed is None:
        return False
    return "admin" in roles or not needed.isdisjoint(roles)
