"""Reliability from operating time: MTBF, MTTR and availability per machine and per component.

Definitions (IEC 60050-192:2015 "Dependability", the successor of IEC 60050-191, and
ISO 22400-2:2014 maintenance KPIs):

- operating time: time the machine spent *executing* (OPC 40001-1 condition) in the period,
  taken from the machine-state stream, not calendar days (IEC 60050-192-02-05 "operating
  time"). Idle, setup, down, maintenance and unknown (no data) time are not operating time.
- failure: a stop (a maximal run of consecutive known, non-executing states, exactly the
  downtime events production derives; `production.oee.find_stops`) that
    * is booked to a reason whose loss category is "breakdown", or
    * has a corrective work order linked to it, or
    * is not booked at all and contains the condition *down* (the machine reported itself
      out of service).
  A stop booked to another loss category (setup, planned, minor stop...) is not a failure,
  and neither is time without data.
- instant of failure: the start of the failure stop's first *down* span (when the machine
  reported itself out of service); for a failure stop without any *down* (booked to a
  breakdown reason or linked to corrective work while the machine was, say, idle or in
  setup) the start of the stop. A stop often begins long before the failure: a machine idle
  over a weekend that reports "down" at the start of the shift failed then, not on Friday.
- TTR, time to restoration (IEC 60050-192-07-21: "time interval from the instant of failure
  to restoration"): from the instant of failure to the machine's return to a known non-stop
  state (the stop's end), whole length, even past the period end; a failure still going on
  counts up to now and is flagged. The part of the stop before the instant of failure is
  neither operating time nor time to restoration.
- A failure is identified and placed in time by its stop's start, as the downtime event that
  production derives and operators book (by machine and start): only failures whose stop
  begins inside the period count (the bookings read are those of the period's stops), and
  a failure is counted in exactly one period.
- TBF, operating time between failures (ISO 22400-2 element TBF): the operating time from
  one failure to the next (the first from the period start), cut at the stops' starts. The
  non-executing part of a stop before its instant of failure has no operating time, so
  cutting at the instants of failure gives the same TBF.
- MTBF = total operating time / number of failures (ISO 22400-2 KPI "mean operating time
  between failures" MTBF = TBF / FE; IEC 60050-192-05-13 MOTBF).
- MTTR = total time to restoration / number of failures (ISO 22400-2 KPI "mean time to
  restoration" MTTR = TTR / FE; IEC 60050-192-07-23).
- availability = MTBF / (MTBF + MTTR) (IEC 60050-192-08-02: inherent, steady-state
  availability from the mean up and down times).

A component (a serialised asset) gets the operating time of the machine while it was
installed there, and the failures of that machine during the installation to which a
corrective work order on that asset is linked.

Everything is computed on numpy arrays for all machines at once. `machines` gives exactly
the numbers of `compute` on the whole state history without reading it all: the database sums
the operating time (per machine, between failures) and only the spans around the few failure
candidates are read to delimit their stops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import BigInteger, and_, case, cast, column, func, or_, select, text, true
from sqlalchemy.orm import Session

from ifactory.core.clock import from_datetime
from ifactory.core.errors import NotFound
from ifactory.maintenance.models import (
    Asset,
    AssetInstallation,
    FailureCode,
    LabourEntry,
    WorkOrder,
    WorkOrderDowntime,
)
from ifactory.production import downtime as production_downtime
from ifactory.production import oee
from ifactory.production.models import DowntimeEvent
from ifactory.stream.models import MachineStateInterval

US = 1_000_000
HOUR_US = 3600 * US
FAILURE_LOSS = "breakdown"
I64 = npt.NDArray[np.int64]
Pairs = Sequence[tuple[int, int]] | I64
# ISO 22400-2 distinguishes corrective maintenance time from preventive maintenance time
# (corrective maintenance ratio CMR = CMT / (CMT + PMT)); improvement work is planned work.
PLANNED_TYPES = ("preventive", "predictive", "inspection", "improvement")
UNPLANNED_TYPES = ("corrective",)
OPEN_STATES = ("requested", "approved", "scheduled", "in_progress", "on_hold")


@dataclass(frozen=True)
class StateArrays:
    """State history of several machines, sorted by (machine index, start); unclipped."""

    machine: I64
    state: npt.NDArray[np.int8]
    start: I64
    end: I64

    def __len__(self) -> int:
        return len(self.start)


def load_states(
    session: Session, *, machine_ids: Sequence[int], start_us: int, end_us: int, now_us: int
) -> StateArrays:
    """The machines' state intervals overlapping [start, end) in one query (open ends at now)."""
    ids = [int(m) for m in machine_ids]
    if not ids:
        z = np.zeros(0, dtype=np.int64)
        return StateArrays(z, np.zeros(0, dtype=np.int8), z, z)
    msi = MachineStateInterval
    # The state code and the open end (at now, never before the start) are computed by the
    # database, so every column is a plain integer and the rows go straight into numpy.
    state = case(
        *((msi.state == name, code) for name, code in oee.STATE_CODES.items()),
        else_=oee.UNKNOWN,
    )
    end = func.coalesce(msi.end_us, case((msi.start_us > now_us, msi.start_us), else_=now_us))
    query = (
        select(msi.machine_id, state, msi.start_us, end)
        .where(
            msi.machine_id.in_(ids),
            msi.start_us < end_us,
            or_(msi.end_us.is_(None), msi.end_us > start_us),
        )
        .order_by(msi.machine_id, msi.start_us)
    )
    rows = _int_rows(session, query, 4)
    machine = _indices(ids, rows[:, 0])
    order = np.argsort(machine, kind="stable")  # rows come sorted by start within a machine
    return StateArrays(
        machine[order],
        rows[order, 1].astype(np.int8),
        np.ascontiguousarray(rows[order, 2]),
        np.ascontiguousarray(rows[order, 3]),
    )


def _indices(ids: Sequence[int], values: I64) -> I64:
    """Position in `ids` of each value (every value is one of `ids`; the last one if repeated)."""
    index = {m: i for i, m in enumerate(ids)}
    keys = np.array(sorted(index), dtype=np.int64)
    positions = np.array([index[int(k)] for k in keys], dtype=np.int64)
    found: I64 = positions[np.searchsorted(keys, values)]
    return found


def _int_rows(session: Session, query: Any, width: int) -> I64:
    """The rows of `query` as an (n, width) int64 array, through the driver's own cursor.

    Every column must be a non-null integer and every parameter a plain int or str (no type
    conversion is applied). No ORM or Row objects are built: the driver's tuples go straight
    into numpy (psycopg: in binary format).
    """
    connection = session.connection()
    compiled = query.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    named = compiled.params  # built on every access: once
    params: Any = (
        tuple(named[name] for name in compiled.positiontup) if compiled.positional else named
    )
    raw: Any = connection.connection.driver_connection
    cursor = raw.cursor(binary=True) if connection.dialect.driver == "psycopg" else raw.cursor()
    try:
        cursor.execute(str(compiled), params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=width * len(rows))
    return flat.reshape(len(rows), width)


@dataclass(frozen=True)
class StopArrays:
    """Stops of all machines: machine index, start, end, first span, whether 'down' occurs,
    and the instant of failure should the stop be a failure (the start of its first 'down'
    span, else its start; module docstring)."""

    machine: I64
    start: I64
    end: I64
    first: I64
    has_down: npt.NDArray[np.bool_]
    failure_at: I64


def find_stops(states: StateArrays) -> StopArrays:
    """Maximal runs of contiguous non-executing known states per machine (as `oee.find_stops`)."""
    n = len(states)
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return StopArrays(z, z, z, z, np.zeros(0, dtype=bool), z)
    is_stop = (states.state != oee.EXECUTING) & (states.state != oee.UNKNOWN)
    new = is_stop.copy()
    contiguous = (states.start[1:] == states.end[:-1]) & (states.machine[1:] == states.machine[:-1])
    new[1:] &= ~(is_stop[:-1] & contiguous)
    group = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    sel = np.flatnonzero(is_stop)
    g = group[sel]
    # Members of a stop are consecutive spans: its end is the end of its last member.
    last = sel[np.r_[g[1:] != g[:-1], True]] if len(sel) else sel
    # The first 'down' member of each stop (members are in start order).
    downs = sel[states.state[sel] == oee.DOWN]
    dg = group[downs]
    lead = np.r_[True, dg[1:] != dg[:-1]] if len(dg) else np.zeros(0, dtype=bool)
    has_down = np.zeros(len(first), dtype=bool)
    has_down[dg[lead]] = True
    failure_at = states.start[first].copy()
    failure_at[dg[lead]] = states.start[downs[lead]]
    return StopArrays(
        states.machine[first], states.start[first], states.end[last], first, has_down, failure_at
    )


def _keys(machine: I64, start: I64, origin: int) -> I64:
    # One int64 per (machine index, start): 46 bits of µs after `origin` cover 814 days.
    offset: I64 = np.clip(start - np.int64(origin), 0, (1 << 46) - 1)
    keys: I64 = (machine << np.int64(46)) | offset
    return keys


@dataclass(frozen=True)
class Bookings:
    """What the records say about stops: booked loss categories and linked corrective work."""

    # (machine index, stop start) of stops booked to breakdown / to another loss category:
    # pairs, or an (n, 2) int64 array as `load_bookings` reads them.
    breakdown: Pairs = field(default_factory=list)
    other: Pairs = field(default_factory=list)
    corrective: Pairs = field(default_factory=list)


@dataclass(frozen=True)
class Result:
    """Per machine (index order): operating hours, failures, TTR hours, and the failure list."""

    operating_h: npt.NDArray[np.float64]
    failures: I64
    ttr_h: npt.NDArray[np.float64]
    ongoing: npt.NDArray[np.bool_]
    # One entry per failure (sorted by machine, start): machine index, stop start, end
    # (restoration), TBF hours, the instant of failure (TTR = end - at) and whether the machine
    # reported itself down in it (then `failure_at` is that first "down").
    failure_machine: I64
    failure_start: I64
    failure_end: I64
    tbf_h: npt.NDArray[np.float64]
    failure_at: I64
    failure_down: npt.NDArray[np.bool_]


def compute(
    states: StateArrays,
    n_machines: int,
    *,
    start_us: int,
    end_us: int,
    now_us: int,
    bookings: Bookings | None = None,
) -> Result:
    """Operating time, failures, TTR and TBF of every machine, vectorised."""
    bookings = bookings or Bookings()
    cs = np.clip(states.start, start_us, end_us)
    ce = np.clip(states.end, start_us, end_us)
    executing = states.state == oee.EXECUTING
    op_us = np.where(executing, ce - cs, 0)
    operating = np.bincount(states.machine, weights=op_us, minlength=n_machines)[:n_machines]
    stops = find_stops(states)
    origin = start_us - 366 * 86_400 * US
    keys = _keys(stops.machine, stops.start, origin)

    def member(pairs: Pairs) -> npt.NDArray[np.bool_]:
        if len(pairs) == 0:
            return np.zeros(len(keys), dtype=bool)
        arr = np.array(pairs, dtype=np.int64)
        return np.isin(keys, _keys(arr[:, 0], arr[:, 1], origin))

    breakdown = member(bookings.breakdown)
    other = member(bookings.other)
    corrective = member(bookings.corrective)
    failure = breakdown | corrective | (stops.has_down & ~other)
    failure &= (stops.start >= start_us) & (stops.start < end_us)
    f = np.flatnonzero(failure)
    f_machine, f_start, f_end = stops.machine[f], stops.start[f], stops.end[f]
    f_at = stops.failure_at[f]
    count = np.bincount(f_machine, minlength=n_machines)[:n_machines].astype(np.int64)
    # IEC 60050-192-07-21: time to restoration, from the instant of failure to restoration.
    ttr = np.bincount(f_machine, weights=f_end - f_at, minlength=n_machines)[:n_machines]
    # A failure whose stop reaches now (its open interval ends at now) is still going on.
    still = np.zeros(n_machines, dtype=bool)
    still[f_machine[f_end >= now_us]] = True
    # TBF: operating time between consecutive failures (cumulative operating time at each stop
    # start; the same at the instant of failure: a stop has no operating time).
    cum = np.concatenate(([0.0], np.cumsum(op_us, dtype=np.float64)))
    at_fail = cum[stops.first[f]]
    first_span = np.searchsorted(states.machine, np.arange(n_machines), side="left")
    machine_base = cum[first_span]
    prev = np.empty(len(f), dtype=np.float64)
    if len(f):
        same = np.r_[False, f_machine[1:] == f_machine[:-1]]
        prev[:] = machine_base[f_machine]
        prev[1:][same[1:]] = at_fail[:-1][same[1:]]
    tbf = (at_fail - prev) / HOUR_US
    return Result(
        operating / HOUR_US,
        count,
        ttr / HOUR_US,
        still,
        f_machine,
        f_start,
        f_end,
        tbf,
        failure_at=f_at,
        failure_down=stops.has_down[f],
    )


@dataclass(frozen=True)
class Kpi:
    """A value, or None with the reason it is not applicable."""

    value: float | None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"value": self.value, "reason": self.reason}


def kpis(operating_h: float, failures: int, ttr_h: float) -> dict[str, Kpi]:
    """MTBF, MTTR (hours) and availability from totals (formulas in the module docstring)."""
    if failures == 0:
        none = "not applicable: no failure in the period"
        return {
            "mtbf_h": Kpi(None, none),
            "mttr_h": Kpi(None, none),
            "availability": Kpi(None, none),
        }
    mtbf = operating_h / failures  # ISO 22400-2: MTBF = TBF / FE
    mttr = ttr_h / failures  # ISO 22400-2: MTTR = TTR / FE
    total = mtbf + mttr
    # IEC 60050-192-08-02: availability = MTBF / (MTBF + MTTR)
    avail = Kpi(mtbf / total) if total > 0 else Kpi(None, "not applicable: MTBF + MTTR is zero")
    return {"mtbf_h": Kpi(mtbf), "mttr_h": Kpi(mttr), "availability": avail}


# --- loading the records -----------------------------------------------------------------------


def load_bookings(
    session: Session, *, machine_ids: Sequence[int], start_us: int, end_us: int
) -> tuple[Bookings, list[tuple[int, int, int | None, int]]]:
    """Booked loss categories and corrective links of stops beginning in the period.

    Also returns (machine id, stop start, asset id, work order id) of every corrective work
    order linked to such a stop, for component attribution.
    """
    ids = [int(m) for m in machine_ids]
    index = {m: i for i, m in enumerate(ids)}
    reasons = production_downtime.reason_tree(session)
    losses = {code: r.loss for code, r in reasons.items() if r.loss is not None}
    breakdown_codes = sorted(c for c, loss in losses.items() if loss == FAILURE_LOSS)
    breakdown = other = np.zeros((0, 2), dtype=np.int64)
    if ids and losses:
        de = DowntimeEvent
        is_breakdown = case((de.reason_code.in_(breakdown_codes), 1), else_=0)
        rows = _int_rows(
            session,
            select(de.machine_id, de.start_us, is_breakdown).where(
                de.machine_id.in_(ids),
                de.reason_code.in_(sorted(losses)),
                de.start_us >= start_us,
                de.start_us < end_us,
            ),
            3,
        )
        pairs = np.column_stack((_indices(ids, rows[:, 0]), rows[:, 1]))
        flag = rows[:, 2] == 1
        breakdown, other = pairs[flag], pairs[~flag]
    links = session.execute(
        select(DowntimeEvent.machine_id, DowntimeEvent.start_us, WorkOrder.asset_id, WorkOrder.id)
        .join(WorkOrderDowntime, WorkOrderDowntime.downtime_id == DowntimeEvent.id)
        .join(WorkOrder, WorkOrder.id == WorkOrderDowntime.work_order_id)
        .where(
            WorkOrder.type == "corrective",
            WorkOrder.state != "cancelled",
            DowntimeEvent.machine_id.in_(list(machine_ids)),
            DowntimeEvent.start_us >= start_us,
            DowntimeEvent.start_us < end_us,
        )
    ).all()
    corrective = [(index[r[0]], int(r[1])) for r in links]
    detail = [(int(r[0]), int(r[1]), r[2], int(r[3])) for r in links]
    return Bookings(breakdown, other, corrective), detail


# --- reading only what the result needs ---------------------------------------------------------
#
# `machines` gives the same numbers as `compute` on the whole state history without reading it:
# the operating time (total and between failures) is summed by the database, and the stops are
# resolved from the raw spans only around the few failure candidates (stops containing "down",
# stops booked to breakdown or linked to corrective work).

NEG_INF = -(1 << 62)
# Spans are first read this far around a failure candidate; the reach grows 8-fold while a
# stop runs past it, and is unbounded below once it passes FAR_US before the period start.
WINDOW_US = 4 * HOUR_US
FAR_US = 64 * 86_400 * US


def _ends_after(msi: Any, start_us: int) -> Any:
    """With a start before the period end (the callers' ranges end there), the spans
    `load_states` reads. (Not `start_us < end` here: SQLite would bound its index scan by it
    instead of by the range.)"""
    return or_(msi.end_us.is_(None), msi.end_us > start_us)


def _int_values(name: str, rows: Sequence[tuple[int, ...]]) -> Any:
    """A CTE of integer rows (columns column1, column2... as SQLite and PostgreSQL name the
    columns of VALUES), rendered inline: thousands of bound parameters compile slowly."""
    body = ", ".join("(" + ", ".join(str(int(v)) for v in row) + ")" for row in rows)
    cols = [column(f"column{n + 1}", BigInteger) for n in range(len(rows[0]))]
    return text(f"VALUES {body}").columns(*cols).cte(name)


def _clip(x: Any, lo: int, hi: int) -> Any:
    return case((x < lo, lo), (x > hi, hi), else_=x)


def _operating_segments(
    session: Session,
    ids: Sequence[int],
    cuts: Sequence[Sequence[int]],
    *,
    start_us: int,
    end_us: int,
    now_us: int,
) -> list[I64]:
    """Per machine, operating µs of the spans starting between consecutive cuts (one more
    segment than cuts; the last one ends with the period), as `compute` clips them."""
    msi = MachineStateInterval
    rows: list[tuple[int, int, int, int]] = []
    for i, mcuts in enumerate(cuts):
        edges = [NEG_INF, *mcuts, end_us]
        rows.extend((i, k, edges[k], edges[k + 1]) for k in range(len(edges) - 1))
    if not ids:
        return []
    seg = _int_values("seg", [(i, int(ids[i]), k, lo, hi) for i, k, lo, hi in rows])
    end = func.coalesce(msi.end_us, case((msi.start_us > now_us, msi.start_us), else_=now_us))
    op = _clip(end, start_us, end_us) - _clip(msi.start_us, start_us, end_us)
    # One indexed range sum per segment (a correlated subquery: no sort or hash of the spans).
    total = (
        select(cast(func.coalesce(func.sum(op), 0), BigInteger))
        .where(
            msi.machine_id == seg.c.column2,
            msi.start_us >= seg.c.column4,
            msi.start_us < seg.c.column5,
            msi.state == "executing",
            _ends_after(msi, start_us),
        )
        .scalar_subquery()
    )
    query = select(seg.c.column1, seg.c.column3, total)
    out = [np.zeros(len(c) + 1, dtype=np.int64) for c in cuts]
    for i, k, total in _int_rows(session, query, 3):
        out[int(i)][int(k)] = total
    return out


def _blocks(
    session: Session,
    ids: Sequence[int],
    windows: list[tuple[int, int, int]],
    *,
    start_us: int,
    end_us: int,
    now_us: int,
) -> StateArrays:
    """The spans `load_states` reads that start in each window (machine index, lo, hi); the
    'machine' of the result is the window number, so stops never join across windows."""
    msi = MachineStateInterval
    win = _int_values("win", [(w, int(ids[i]), lo, hi) for w, (i, lo, hi) in enumerate(windows)])
    state = case(
        *((msi.state == name, code) for name, code in oee.STATE_CODES.items()),
        else_=oee.UNKNOWN,
    )
    end = func.coalesce(msi.end_us, case((msi.start_us > now_us, msi.start_us), else_=now_us))
    in_window = and_(
        msi.machine_id == win.c.column2,
        msi.start_us >= win.c.column3,
        msi.start_us < win.c.column4,
        _ends_after(msi, start_us),
    )
    query: Any
    if session.connection().dialect.name == "postgresql":
        # LATERAL: one index range scan per window (PostgreSQL would hash-join all spans).
        spans = select(state.label("s"), msi.start_us.label("a"), end.label("b"))
        lateral = spans.where(in_window).offset(0).lateral("spans")  # OFFSET 0: not flattened
        query = (
            select(win.c.column1, lateral.c.s, lateral.c.a, lateral.c.b)
            .select_from(win)
            .join(lateral, true())
        )
    else:  # SQLite loops over the windows with the index on its own
        query = (
            select(win.c.column1, state, msi.start_us, end).select_from(win).join(msi, in_window)
        )
    rows = _int_rows(session, query, 4)
    rows = rows[np.lexsort((rows[:, 2], rows[:, 0]))]  # by window, start (sorting in SQL is slower)
    return StateArrays(
        np.ascontiguousarray(rows[:, 0]),
        rows[:, 1].astype(np.int8),
        np.ascontiguousarray(rows[:, 2]),
        np.ascontiguousarray(rows[:, 3]),
    )


@dataclass(frozen=True)
class _Stop:
    machine: int
    start: int
    end: int
    first_down: int | None  # start of the first 'down' span (the instant of failure)

    @property
    def has_down(self) -> bool:
        return self.first_down is not None

    @property
    def failure_at(self) -> int:
        return self.start if self.first_down is None else self.first_down


def _resolve_stops(
    session: Session,
    ids: Sequence[int],
    candidates: set[tuple[int, int]],
    *,
    start_us: int,
    end_us: int,
    now_us: int,
) -> dict[tuple[int, int], _Stop]:
    """The stop (as `find_stops` finds it in the whole history) whose span starting at each
    candidate (machine index, µs) belongs to; candidates on no stop span are left out.

    Spans are read in windows around the candidates, widened until each stop lies inside.
    """
    found: dict[tuple[int, int], _Stop] = {}
    todo = sorted(candidates)
    half = WINDOW_US
    while todo:
        windows: list[tuple[int, int, int]] = []
        window_of: list[int] = []
        for i, t in todo:
            lo = t - half if t - half > start_us - FAR_US else NEG_INF
            hi = min(t + half, end_us)
            if windows and windows[-1][0] == i and lo <= windows[-1][2]:
                windows[-1] = (i, windows[-1][1], max(hi, windows[-1][2]))
            else:
                windows.append((i, lo, hi))
            window_of.append(len(windows) - 1)
        spans = _blocks(session, ids, windows, start_us=start_us, end_us=end_us, now_us=now_us)
        is_stop = (spans.state != oee.EXECUTING) & (spans.state != oee.UNKNOWN)
        new = is_stop.copy()
        contiguous = (spans.start[1:] == spans.end[:-1]) & (spans.machine[1:] == spans.machine[:-1])
        new[1:] &= ~(is_stop[:-1] & contiguous)
        bounds = np.searchsorted(spans.machine, np.arange(len(windows) + 1))
        retry = []
        for (i, t), w in zip(todo, window_of, strict=True):
            lo_w, hi_w = int(bounds[w]), int(bounds[w + 1])
            j = lo_w + int(np.searchsorted(spans.start[lo_w:hi_w], t))
            if j >= hi_w or spans.start[j] != t or not is_stop[j]:
                continue
            first = j
            while not new[first]:  # a stop span that does not begin a stop follows one
                first -= 1
            last = j
            while last + 1 < hi_w and is_stop[last + 1] and not new[last + 1]:
                last += 1
            open_lo = first == lo_w and windows[w][1] != NEG_INF
            open_hi = last == hi_w - 1 and windows[w][2] < end_us
            if open_lo or open_hi:
                retry.append((i, t))
                continue
            downs = np.flatnonzero(spans.state[first : last + 1] == oee.DOWN)
            found[(i, t)] = _Stop(
                i,
                int(spans.start[first]),
                int(spans.end[last]),
                int(spans.start[first + downs[0]]) if len(downs) else None,
            )
        todo = retry
        half *= 8
    return found


def _candidates(
    session: Session, ids: Sequence[int], *, start_us: int, end_us: int
) -> tuple[set[tuple[int, int]], set[tuple[int, int]], set[tuple[int, int]]]:
    """Spans that may start or lie in a failure: (machine index, start) of 'down' spans, of
    stops booked to a breakdown reason and of stops linked to corrective work."""
    msi = MachineStateInterval
    de = DowntimeEvent
    down = _int_rows(
        session,
        select(msi.machine_id, msi.start_us).where(
            msi.machine_id.in_(list(ids)),
            msi.state == "down",
            msi.start_us < end_us,
            _ends_after(msi, start_us),
        ),
        2,
    )
    reasons = production_downtime.reason_tree(session)
    breakdown_codes = sorted(c for c, r in reasons.items() if r.loss == FAILURE_LOSS)
    booked = np.zeros((0, 2), dtype=np.int64)
    if breakdown_codes:
        booked = _int_rows(
            session,
            select(de.machine_id, de.start_us).where(
                de.machine_id.in_(list(ids)),
                de.reason_code.in_(breakdown_codes),
                de.start_us >= start_us,
                de.start_us < end_us,
            ),
            2,
        )
    linked = session.execute(
        select(de.machine_id, de.start_us)
        .join(WorkOrderDowntime, WorkOrderDowntime.downtime_id == de.id)
        .join(WorkOrder, WorkOrder.id == WorkOrderDowntime.work_order_id)
        .where(
            WorkOrder.type == "corrective",
            WorkOrder.state != "cancelled",
            de.machine_id.in_(list(ids)),
            de.start_us >= start_us,
            de.start_us < end_us,
        )
    ).all()

    def pairs(rows: Any) -> set[tuple[int, int]]:
        if len(rows) == 0:
            return set()
        idx = _indices(ids, np.array([r[0] for r in rows], dtype=np.int64))
        return {(int(i), int(r[1])) for i, r in zip(idx, rows, strict=True)}

    return pairs(down), pairs(booked), pairs(linked)


def _booked_other(
    session: Session, ids: Sequence[int], stops: Sequence[_Stop]
) -> set[tuple[int, int]]:
    """Which of the stops are booked to a loss category other than breakdown."""
    reasons = production_downtime.reason_tree(session)
    codes = sorted(c for c, r in reasons.items() if r.loss is not None and r.loss != FAILURE_LOSS)
    if not codes or not stops:
        return set()
    de = DowntimeEvent
    stop = _int_values("stop", sorted({(s.machine, int(ids[s.machine]), s.start) for s in stops}))
    # One lookup per stop in the (machine, start) unique index.
    booked = (
        select(func.count())
        .where(
            de.machine_id == stop.c.column2,
            de.start_us == stop.c.column3,
            de.reason_code.in_(codes),
        )
        .scalar_subquery()
    )
    rows = _int_rows(session, select(stop.c.column1, stop.c.column3, booked), 3)
    return {(int(i), int(t)) for i, t, n in rows if n > 0}


def fast_result(
    session: Session, *, machine_ids: Sequence[int], start_us: int, end_us: int, now_us: int
) -> Result:
    """The `compute` result of the machines over the period, reading only what it needs."""
    ids = [int(m) for m in machine_ids]
    n = len(ids)
    down, breakdown, corrective = _candidates(session, ids, start_us=start_us, end_us=end_us)
    resolved = _resolve_stops(
        session, ids, down | breakdown | corrective, start_us=start_us, end_us=end_us, now_us=now_us
    )
    stops = {(s.machine, s.start): s for s in resolved.values()}
    in_period = [s for s in stops.values() if start_us <= s.start < end_us]
    other = _booked_other(session, ids, [s for s in in_period if s.has_down])
    failures = sorted(
        (s.machine, s.start, s.end, s.failure_at, s.has_down)
        for s in in_period
        if (s.machine, s.start) in breakdown
        or (s.machine, s.start) in corrective
        or (s.has_down and (s.machine, s.start) not in other)
    )
    f_machine = np.array([f[0] for f in failures], dtype=np.int64)
    f_start = np.array([f[1] for f in failures], dtype=np.int64)
    f_end = np.array([f[2] for f in failures], dtype=np.int64)
    f_at = np.array([f[3] for f in failures], dtype=np.int64)
    f_down = np.array([f[4] for f in failures], dtype=bool)
    # TBF cuts at the stop starts, as `compute` (the same at the instants of failure).
    cuts: list[list[int]] = [[] for _ in ids]
    for f in failures:
        cuts[f[0]].append(f[1])
    segments = _operating_segments(
        session, ids, cuts, start_us=start_us, end_us=end_us, now_us=now_us
    )
    operating = np.array([int(s.sum()) for s in segments], dtype=np.int64)
    tbf = np.array([float(v) for s in segments for v in s[:-1]], dtype=np.float64)
    count = np.bincount(f_machine, minlength=n)[:n].astype(np.int64)
    # IEC 60050-192-07-21: time to restoration, from the instant of failure to restoration.
    ttr = np.bincount(f_machine, weights=f_end - f_at, minlength=n)[:n]
    still = np.zeros(n, dtype=bool)
    still[f_machine[f_end >= now_us]] = True
    return Result(
        operating / HOUR_US,
        count,
        ttr / HOUR_US,
        still,
        f_machine,
        f_start,
        f_end,
        tbf / HOUR_US,
        failure_at=f_at,
        failure_down=f_down,
    )


# Mode of a failure the records say nothing about (no problem code, no reason booked).
UNRECORDED = "unrecorded"


@dataclass(frozen=True)
class FailureRecord:
    """A failure of a machine as the records show it (the definition of the module docstring).

    `end_us` is the restoration (end of the failure stop; now for one still going on, which
    `ongoing` flags). `mode` is the problem code ("code: name") of a corrective work order
    linked to the stop, else the downtime reason code booked to it, else "unrecorded".
    `down_us` is when the machine first reported itself *down* in the stop (None if it never
    did, e.g. a stop booked to a breakdown reason): a stop may begin long before the failure
    itself (a machine idle over a weekend that fails at the start of the shift).
    """

    machine_id: int
    start_us: int
    end_us: int
    mode: str
    ongoing: bool = False
    down_us: int | None = None


def failure_records(
    session: Session, *, machine_ids: Sequence[int], start_us: int, end_us: int, now_us: int
) -> list[FailureRecord]:
    """The failures of the machines beginning in [start_us, end_us), by machine and start.

    The same failures as `machines` counts (one definition of a failure), with their mode.
    """
    ids = [int(m) for m in machine_ids]
    end_us = min(end_us, now_us)
    if not ids or end_us <= start_us:
        return []
    res = fast_result(session, machine_ids=ids, start_us=start_us, end_us=end_us, now_us=now_us)
    keys = [(int(m), int(s)) for m, s in zip(res.failure_machine, res.failure_start, strict=True)]
    modes = _failure_modes(session, ids, keys)
    out = []
    ends, ats, downs = res.failure_end.tolist(), res.failure_at.tolist(), res.failure_down.tolist()
    for (m, s), e, at, down in zip(keys, ends, ats, downs, strict=True):
        out.append(
            FailureRecord(
                machine_id=ids[m],
                start_us=s,
                end_us=int(e),
                mode=modes.get((m, s), UNRECORDED),
                ongoing=bool(e >= now_us),
                # The instant of failure the TTR is measured from, when the machine said "down".
                down_us=int(at) if down else None,
            )
        )
    return out


def _failure_modes(
    session: Session, ids: Sequence[int], failures: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    """(machine index, stop start) -> mode, for the failures whose stop the records describe."""
    if not failures:
        return {}
    de = DowntimeEvent
    index = {m: i for i, m in enumerate(ids)}
    key = _int_values("failure", sorted({(int(ids[m]), s) for m, s in failures}))
    on_stop = and_(de.machine_id == key.c.column1, de.start_us == key.c.column2)
    modes: dict[tuple[int, int], str] = {}
    reasons = session.execute(
        select(de.machine_id, de.start_us, de.reason_code)
        .select_from(de)
        .join(key, on_stop)
        .where(de.reason_code.is_not(None))
    ).all()
    for machine, start, reason in reasons:
        modes[(index[int(machine)], int(start))] = str(reason)
    # A problem code of corrective work on the stop says more than the reason: it wins
    # (the oldest such work order when several are linked).
    problems = session.execute(
        select(de.machine_id, de.start_us, FailureCode.code, FailureCode.name)
        .select_from(de)
        .join(key, on_stop)
        .join(WorkOrderDowntime, WorkOrderDowntime.downtime_id == de.id)
        .join(WorkOrder, WorkOrder.id == WorkOrderDowntime.work_order_id)
        .join(FailureCode, FailureCode.id == WorkOrder.problem_code_id)
        .where(WorkOrder.type == "corrective", WorkOrder.state != "cancelled")
        .order_by(WorkOrder.id.desc())
    ).all()
    for machine, start, code, name in problems:
        modes[(index[int(machine)], int(start))] = f"{code}: {name}"
    return modes


@dataclass(frozen=True)
class MachineReliability:
    """Reliability of one machine (or component) in a period."""

    machine_id: int
    operating_h: float
    failures: int
    ttr_h: float
    mtbf_h: Kpi
    mttr_h: Kpi
    availability: Kpi
    ongoing_failure: bool
    tbf_h: list[float]
    failure_starts_us: list[int]
    asset_id: int | None = None
    asset_code: str | None = None
    unlinked_corrective_work_orders: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "machine_id": self.machine_id,
            "asset_id": self.asset_id,
            "operating_h": self.operating_h,
            "failures": self.failures,
            "ttr_h": self.ttr_h,
            "mtbf_h": self.mtbf_h.as_dict(),
            "mttr_h": self.mttr_h.as_dict(),
            "availability": self.availability.as_dict(),
            "ongoing_failure": self.ongoing_failure,
            "tbf_h": self.tbf_h,
            "failure_starts_us": self.failure_starts_us,
            "unlinked_corrective_work_orders": self.unlinked_corrective_work_orders,
        }


def machines(
    session: Session, *, machine_ids: Sequence[int], start_us: int, end_us: int, now_us: int
) -> list[MachineReliability]:
    """MTBF, MTTR and availability of each machine over [start_us, end_us)."""
    end_us = min(end_us, now_us)
    ids = list(machine_ids)
    res = fast_result(session, machine_ids=ids, start_us=start_us, end_us=end_us, now_us=now_us)
    out = []
    for i, mid in enumerate(ids):
        sel = res.failure_machine == i
        k = kpis(float(res.operating_h[i]), int(res.failures[i]), float(res.ttr_h[i]))
        out.append(
            MachineReliability(
                machine_id=mid,
                operating_h=float(res.operating_h[i]),
                failures=int(res.failures[i]),
                ttr_h=float(res.ttr_h[i]),
                mtbf_h=k["mtbf_h"],
                mttr_h=k["mttr_h"],
                availability=k["availability"],
                ongoing_failure=bool(res.ongoing[i]),
                tbf_h=res.tbf_h[sel].tolist(),
                failure_starts_us=res.failure_start[sel].tolist(),
            )
        )
    return out


def components(
    session: Session,
    *,
    start_us: int,
    end_us: int,
    now_us: int,
    asset_ids: Sequence[int] | None = None,
    machine_id: int | None = None,
) -> list[MachineReliability]:
    """MTBF, MTTR and availability of serialised assets, from their installations in machines."""
    end_us = min(end_us, now_us)
    if asset_ids is not None:
        for asset_id in asset_ids:
            if session.get(Asset, asset_id) is None:
                raise NotFound(f"no asset {asset_id}", loc=["query", "asset_id"])
    query = select(AssetInstallation).order_by(
        AssetInstallation.asset_id, AssetInstallation.installed_at
    )
    if asset_ids is not None:
        query = query.where(AssetInstallation.asset_id.in_(list(asset_ids)))
    if machine_id is not None:
        query = query.where(AssetInstallation.machine_id == machine_id)
    stays: dict[int, list[tuple[int, int, int]]] = {}
    for inst in session.scalars(query):
        s = max(from_datetime(inst.installed_at), start_us)
        e = min(from_datetime(inst.removed_at) if inst.removed_at else now_us, end_us)
        if e > s:
            stays.setdefault(inst.asset_id, []).append((inst.machine_id, s, e))
    if not stays:
        return []
    machine_ids = sorted({m for v in stays.values() for m, _, _ in v})
    index = {m: i for i, m in enumerate(machine_ids)}
    states = load_states(
        session, machine_ids=machine_ids, start_us=start_us, end_us=end_us, now_us=now_us
    )
    bookings, links = load_bookings(
        session, machine_ids=machine_ids, start_us=start_us, end_us=end_us
    )
    res = compute(
        states, len(machine_ids), start_us=start_us, end_us=end_us, now_us=now_us, bookings=bookings
    )
    # (machine index, stop start) -> time to restoration (from the instant of failure).
    failure_ttr = {
        (int(m), int(s)): int(e - at)
        for m, s, e, at in zip(
            res.failure_machine, res.failure_start, res.failure_end, res.failure_at, strict=True
        )
    }
    unlinked = _unlinked_corrective(session, list(stays), start_us, end_us)
    codes = dict(
        session.execute(select(Asset.id, Asset.code).where(Asset.id.in_(list(stays)))).all()
    )
    out = []
    executing = states.state == oee.EXECUTING
    for asset_id, asset_stays in stays.items():
        operating_us = 0
        ttr_us = 0
        starts: list[int] = []
        for mid, s, e in asset_stays:
            i = index[mid]
            sel = (states.machine == i) & executing
            operating_us += int(
                np.clip(
                    np.minimum(states.end[sel], e) - np.maximum(states.start[sel], s), 0, None
                ).sum()
            )
            for lm, lstart, lasset, _wo in links:
                if lm == mid and lasset == asset_id and s <= lstart < e:
                    ttr = failure_ttr.get((i, lstart))
                    if ttr is not None and lstart not in starts:
                        starts.append(lstart)
                        ttr_us += ttr
        k = kpis(operating_us / HOUR_US, len(starts), ttr_us / HOUR_US)
        out.append(
            MachineReliability(
                machine_id=asset_stays[-1][0],
                asset_id=asset_id,
                asset_code=codes.get(asset_id),
                operating_h=operating_us / HOUR_US,
                failures=len(starts),
                ttr_h=ttr_us / HOUR_US,
                mtbf_h=k["mtbf_h"],
                mttr_h=k["mttr_h"],
                availability=k["availability"],
                ongoing_failure=False,
                tbf_h=[],
                failure_starts_us=sorted(starts),
                unlinked_corrective_work_orders=unlinked.get(asset_id, 0),
            )
        )
    return out


def _unlinked_corrective(
    session: Session, asset_ids: list[int], start_us: int, end_us: int
) -> dict[int, int]:
    rows = session.execute(
        select(WorkOrder.asset_id, WorkOrder.created_at)
        .outerjoin(WorkOrderDowntime, WorkOrderDowntime.work_order_id == WorkOrder.id)
        .where(
            WorkOrder.asset_id.in_(asset_ids),
            WorkOrder.type == "corrective",
            WorkOrder.state != "cancelled",
            WorkOrderDowntime.downtime_id.is_(None),
        )
    ).all()
    out: dict[int, int] = {}
    for asset_id, created_at in rows:
        if asset_id is not None and start_us <= from_datetime(created_at) < end_us:
            out[int(asset_id)] = out.get(int(asset_id), 0) + 1
    return out


# --- maintenance KPIs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MaintenanceKpis:
    """PM compliance, planned vs unplanned work, backlog and work-order age."""

    pm_due: int
    pm_on_time: int
    pm_compliance: Kpi
    planned_h: float
    unplanned_h: float
    planned_ratio: Kpi
    backlog_count: int
    backlog_estimated_h: float
    backlog_without_estimate: int
    mean_age_days: Kpi

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "pm_due": self.pm_due,
            "pm_on_time": self.pm_on_time,
            "pm_compliance": self.pm_compliance.as_dict(),
            "planned_h": self.planned_h,
            "unplanned_h": self.unplanned_h,
            "planned_ratio": self.planned_ratio.as_dict(),
            "backlog_count": self.backlog_count,
            "backlog_estimated_h": self.backlog_estimated_h,
            "backlog_without_estimate": self.backlog_without_estimate,
            "mean_age_days": self.mean_age_days.as_dict(),
        }


def maintenance_kpis(
    session: Session,
    *,
    start_us: int,
    end_us: int,
    now_us: int,
    machine_ids: Sequence[int] | None = None,
) -> MaintenanceKpis:
    """Maintenance KPIs of a period (backlog and age: as of now).

    - PM compliance: planned work orders (from a PM plan) due in the period, not cancelled,
      completed by their due date / all of them.
    - Planned vs unplanned: labour hours booked in the period on preventive, predictive,
      inspection and improvement work versus corrective work; the planned ratio is
      planned / (planned + unplanned), the complement of ISO 22400-2's corrective
      maintenance ratio CMR = CMT / (CMT + PMT).
    - Backlog: open work orders (requested to on hold) with their estimated hours.
    - Mean work-order age: mean time since creation of the open work orders, in days.
    """

    def scoped(query: Any) -> Any:
        return (
            query
            if machine_ids is None
            else query.where(WorkOrder.machine_id.in_(list(machine_ids)))
        )

    pm = session.execute(
        scoped(
            select(WorkOrder.due_us, WorkOrder.completed_us).where(
                WorkOrder.pm_plan_id.is_not(None),
                WorkOrder.state != "cancelled",
                WorkOrder.due_us >= start_us,
                WorkOrder.due_us < end_us,
            )
        )
    ).all()
    due = np.array([r[0] for r in pm], dtype=np.int64)
    done = np.array(
        [r[1] if r[1] is not None else np.iinfo(np.int64).max for r in pm], dtype=np.int64
    )
    on_time = int((done <= due).sum())
    compliance = (
        Kpi(on_time / len(pm)) if pm else Kpi(None, "not applicable: no PM work due in the period")
    )
    labour = session.execute(
        scoped(
            select(
                WorkOrder.type, LabourEntry.hours, LabourEntry.work_date, LabourEntry.entered_at
            ).join(LabourEntry, LabourEntry.work_order_id == WorkOrder.id)
        )
    ).all()
    planned_h = unplanned_h = 0.0
    for wtype, hours, work_date, entered_at in labour:
        at = _labour_at(work_date, entered_at)
        if not (start_us <= at < end_us):
            continue
        if wtype in PLANNED_TYPES:
            planned_h += float(hours)
        elif wtype in UNPLANNED_TYPES:
            unplanned_h += float(hours)
    total = planned_h + unplanned_h
    ratio = Kpi(planned_h / total) if total > 0 else Kpi(None, "not applicable: no labour booked")
    backlog = session.execute(
        scoped(
            select(WorkOrder.estimated_hours, WorkOrder.created_at).where(
                WorkOrder.state.in_(OPEN_STATES)
            )
        )
    ).all()
    est = [float(r[0]) for r in backlog if r[0] is not None]
    ages = [(now_us - from_datetime(r[1])) / (86_400 * US) for r in backlog]
    age = Kpi(float(np.mean(ages))) if ages else Kpi(None, "not applicable: no open work orders")
    return MaintenanceKpis(
        pm_due=len(pm),
        pm_on_time=on_time,
        pm_compliance=compliance,
        planned_h=planned_h,
        unplanned_h=unplanned_h,
        planned_ratio=ratio,
        backlog_count=len(backlog),
        backlog_estimated_h=float(sum(est)),
        backlog_without_estimate=len(backlog) - len(est),
        mean_age_days=age,
    )


def _labour_at(work_date: str | None, entered_at: Any) -> int:
    """When labour was worked: its work date (noon UTC), else when it was entered."""
    if work_date:
        from datetime import UTC, datetime

        return from_datetime(datetime.fromisoformat(work_date).replace(hour=12, tzinfo=UTC))
    return from_datetime(entered_at)


def asset_ids_of(session: Session) -> list[int]:
    """Every asset id (for the components view)."""
    return [int(i) for i in session.scalars(select(Asset.id).order_by(Asset.id))]
