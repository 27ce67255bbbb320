"""OEE exactly per ISO 22400-2:2014: time elements, KPIs and the six big losses. Pure, no I/O.

Time elements come from the intersection of a machine's state history (OPC 40001-1
conditions) with the calendar's planned busy intervals:

- POT, planned operation time: the shift spans (ISO 22400-2 time element POT);
- PDOT, planned downtime: breaks, planned stops, and stops an operator booked to a reason
  whose loss category is "planned" (ISO 22400-2 time element PDOT);
- PBT, planned busy time = POT - PDOT (ISO 22400-2 time model);
- APT, actual production time: executing inside PBT (ISO 22400-2 time element APT);
- ASUT, actual unit setup time: setup inside PBT (ISO 22400-2 time element ASUT);
- ADET, actual unit delay time: stops shorter than the minor-stop threshold (ISO 22400-2 time element ADET);
- ADOT, actual unit down time: longer stops (ISO 22400-2 time element ADOT);
- AUBT, actual unit busy time = APT + ASUT + ADET (ISO 22400-2 time model: AUPT = APT + ASUT, AUBT = AUPT + ADET).

Time in state "unknown" (no data) is none of these: it is reported as `no_data_us` and is never
counted as downtime. Quantities PQ, GQ, SQ, RQ are counter deltas (ISO 22400-2 logistical elements); PRI,
the planned run time per item, is the ideal cycle time of the product on the machine
(ISO 22400-2 element PRI). A ratio whose denominator is zero is "not applicable" (value None with
the reason), never 0 or 100 %.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

US = 1_000_000
Interval = tuple[int, int]

# State codes of the vectorised computation (the tracker's names map onto these).
EXECUTING, SETUP, IDLE, DOWN, MAINTENANCE, UNKNOWN = range(6)
STATE_CODES = {
    "executing": EXECUTING,
    "setup": SETUP,
    "idle": IDLE,
    "down": DOWN,
    "maintenance": MAINTENANCE,
    "unknown": UNKNOWN,
}
STATES = {code: name for name, code in STATE_CODES.items()}
# Loss categories (plant.spec.LossCategory values) a stop can be booked to.
LOSSES = (
    "breakdown",
    "setup",
    "minor_stop",
    "reduced_speed",
    "process_defect",
    "startup_reject",
)
PLANNED = "planned"
_LOSS_CODE = {name: i for i, name in enumerate((*LOSSES, PLANNED))}
DEFAULT_MINOR_STOP_S = 300.0


@dataclass(frozen=True)
class Ratio:
    """A KPI value, or None with the reason it is not applicable; `flag` marks a suspect value."""

    value: float | None
    reason: str | None = None
    flag: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"value": self.value, "reason": self.reason, "flag": self.flag}


def ratio(num: float, den: float, what: str) -> Ratio:
    """num / den, or not applicable (with `what` as the reason) when den is zero."""
    if den <= 0:
        return Ratio(None, f"not applicable: {what} is zero")
    return Ratio(num / den)


@dataclass(frozen=True)
class Output:
    """Counter deltas of one product in the interval and its ideal cycle time (PRI, seconds)."""

    pq: float  # produced quantity (ISO 22400-2 PQ)
    gq: float  # good quantity (GQ)
    sq: float = 0.0  # scrap quantity (SQ)
    rq: float = 0.0  # rework quantity (RQ)
    pri_s: float | None = None  # planned run time per item (PRI: ideal cycle time), s
    product: str | None = None
    startup_sq: float = 0.0  # part of sq made in start-up after a setup or stop


@dataclass
class TimeElements:
    """ISO 22400-2 time elements in µs (sums are exact integers)."""

    pot_us: int = 0
    pdot_us: int = 0
    pbt_us: int = 0
    apt_us: int = 0
    asut_us: int = 0
    adet_us: int = 0
    adot_us: int = 0
    no_data_us: int = 0
    # ADOT split by the loss category of the stops (breakdown unless an operator said otherwise)
    adot_by_loss: dict[str, int] = field(default_factory=dict)

    @property
    def aubt_us(self) -> int:
        """ISO 22400-2 time model: AUBT = APT + ASUT + ADET."""
        return self.apt_us + self.asut_us + self.adet_us

    def __add__(self, other: TimeElements) -> TimeElements:
        by = dict(self.adot_by_loss)
        for k, v in other.adot_by_loss.items():
            by[k] = by.get(k, 0) + v
        return TimeElements(
            self.pot_us + other.pot_us,
            self.pdot_us + other.pdot_us,
            self.pbt_us + other.pbt_us,
            self.apt_us + other.apt_us,
            self.asut_us + other.asut_us,
            self.adet_us + other.adet_us,
            self.adot_us + other.adot_us,
            self.no_data_us + other.no_data_us,
            by,
        )


@dataclass(frozen=True)
class OEEResult:
    """KPIs, time elements, quantities and the six big losses (seconds) of one interval."""

    time: TimeElements
    pq: float
    gq: float
    sq: float
    rq: float
    planned_run_s: float  # sum of PRI x PQ over products (the ideal time of what was made)
    availability: Ratio
    effectiveness: Ratio
    quality_ratio: Ratio
    oee: Ratio
    nee: Ratio
    technical_efficiency: Ratio
    setup_rate: Ratio
    scrap_ratio: Ratio
    rework_ratio: Ratio
    losses_s: dict[str, float]
    pri_s: float | None = None

    @property
    def lost_s(self) -> float:
        """PBT minus the fully productive time (PRI x GQ): what the six losses explain."""
        return self.time.pbt_us / US - self.fully_productive_s

    @property
    def fully_productive_s(self) -> float:
        """Planned run time of the good quantity."""
        return self.planned_run_s * (self.gq / self.pq) if self.pq > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON form (seconds for times)."""
        t = self.time
        return {
            "availability": self.availability.as_dict(),
            "effectiveness": self.effectiveness.as_dict(),
            "quality_ratio": self.quality_ratio.as_dict(),
            "oee": self.oee.as_dict(),
            "nee": self.nee.as_dict(),
            "technical_efficiency": self.technical_efficiency.as_dict(),
            "setup_rate": self.setup_rate.as_dict(),
            "scrap_ratio": self.scrap_ratio.as_dict(),
            "rework_ratio": self.rework_ratio.as_dict(),
            "time_s": {
                "pot": t.pot_us / US,
                "pdot": t.pdot_us / US,
                "pbt": t.pbt_us / US,
                "apt": t.apt_us / US,
                "asut": t.asut_us / US,
                "adet": t.adet_us / US,
                "adot": t.adot_us / US,
                "aubt": t.aubt_us / US,
                "no_data": t.no_data_us / US,
            },
            "quantities": {"pq": self.pq, "gq": self.gq, "sq": self.sq, "rq": self.rq},
            "pri_s": self.pri_s,
            "planned_run_s": self.planned_run_s,
            "fully_productive_s": self.fully_productive_s,
            "losses_s": self.losses_s,
            "lost_s": self.lost_s,
            "ideal_output": self.ideal_output,
        }

    @property
    def ideal_output(self) -> float | None:
        """What PBT would make at the ideal rate (PBT / PRI): the 100 % output target."""
        if self.pq <= 0 or self.planned_run_s <= 0:
            return None
        return (self.time.pbt_us / US) / (self.planned_run_s / self.pq)


# -- interval arithmetic ------------------------------------------------------------------------


def normalize(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, merged, non-empty half-open intervals."""
    out: list[Interval] = []
    for s, e in sorted(intervals):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Intersection of two normalized interval lists."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        s = max(a[i][0], b[j][0])
        e = min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """a minus b (both normalized)."""
    out: list[Interval] = []
    j = 0
    for s, e in a:
        cur = s
        while j < len(b) and b[j][1] <= cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] < e:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            k += 1
        if cur < e:
            out.append((cur, e))
    return out


class Coverage:
    """Cumulative time of a set of intervals: overlap of any [s, e) with it in O(log n), vectorised."""

    def __init__(self, intervals: Sequence[Interval]) -> None:
        iv = normalize(intervals)
        self.starts = np.array([s for s, _ in iv], dtype=np.int64)
        self.ends = np.array([e for _, e in iv], dtype=np.int64)
        self.cum = np.concatenate(([0], np.cumsum(self.ends - self.starts))).astype(np.int64)
        self.total = int(self.cum[-1])

    def upto(self, t: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Covered time in (-inf, t) for each t."""
        if not len(self.starts):
            return np.zeros(len(t), dtype=np.int64)
        i = np.searchsorted(self.starts, t, side="right") - 1
        ic = np.clip(i, 0, None)
        inside = np.clip(t - self.starts[ic], 0, self.ends[ic] - self.starts[ic])
        return np.where(i >= 0, self.cum[ic] + inside, 0)

    def overlap(
        self, start: npt.NDArray[np.int64], end: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Covered time inside each [start, end)."""
        return self.upto(end) - self.upto(start)


# -- state history -> time elements ---------------------------------------------------------


@dataclass(frozen=True)
class Spans:
    """A machine's state history as arrays (sorted by start, non-overlapping)."""

    state: npt.NDArray[np.int8]
    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]

    @classmethod
    def of(cls, rows: Iterable[tuple[str, int, int]]) -> Spans:
        """From (state name, start µs, end µs) tuples."""
        rows = list(rows)
        return cls(
            np.array([STATE_CODES[r[0]] for r in rows], dtype=np.int8),
            np.array([r[1] for r in rows], dtype=np.int64),
            np.array([r[2] for r in rows], dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.start)


@dataclass(frozen=True)
class Stops:
    """Maximal runs of consecutive non-executing, known states: each is one downtime event.

    `group[i]` is the stop of span i (-1 for executing/unknown spans).
    """

    group: npt.NDArray[np.int64]
    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]
    all_setup: npt.NDArray[np.bool_]


def find_stops(spans: Spans) -> Stops:
    """Group stop spans (setup, idle, down, maintenance) into stops; a gap or a run ends a stop."""
    n = len(spans)
    if n == 0:
        e = np.zeros(0, dtype=np.int64)
        return Stops(e, e, e, np.zeros(0, dtype=bool))
    is_stop = (spans.state != EXECUTING) & (spans.state != UNKNOWN)
    new = is_stop.copy()
    if n > 1:
        contiguous = spans.start[1:] == spans.end[:-1]
        new[1:] &= ~(is_stop[:-1] & contiguous)
    gid = np.cumsum(new) - 1
    group = np.where(is_stop, gid, -1).astype(np.int64)
    n_groups = int(new.sum())
    first = np.flatnonzero(new)
    g_start = spans.start[first]
    g_end = np.zeros(n_groups, dtype=np.int64)
    sel = np.flatnonzero(is_stop)
    np.maximum.at(g_end, group[sel], spans.end[sel])
    non_setup = np.zeros(n_groups, dtype=np.int64)
    np.add.at(non_setup, group[sel], (spans.state[sel] != SETUP).astype(np.int64))
    return Stops(group, g_start, g_end, non_setup == 0)


def time_elements(
    spans: Spans,
    planned: Sequence[Interval],
    *,
    pot: Sequence[Interval] | None = None,
    minor_stop_s: float = DEFAULT_MINOR_STOP_S,
    stop_losses: dict[int, str] | None = None,
) -> TimeElements:
    """ISO 22400-2 time elements of `spans` inside the planned busy intervals `planned`.

    `pot` is the planned operation time (shift spans, defaults to `planned`); `stop_losses`
    maps a stop's start (µs) to the loss category an operator or a reason tag gave it. A stop
    shorter than `minor_stop_s` (its whole length, not the part inside the window) is a delay
    (ADET), a longer one downtime (ADOT), a pure setup run is setup (ASUT). A stop booked to
    "planned" moves from PBT to planned downtime (ISO 22400-2 PDOT).
    """
    cov = Coverage(planned)
    pot_total = Coverage(pot).total if pot is not None else cov.total
    te = TimeElements(pot_us=pot_total, pdot_us=pot_total - cov.total, pbt_us=cov.total)
    if len(spans) == 0 or cov.total == 0:
        te.no_data_us = cov.total
        return te
    inside = cov.overlap(spans.start, spans.end)
    stops = find_stops(spans)
    # Category per stop: the booked loss, else setup / minor stop / breakdown by rule.
    n_groups = len(stops.start)
    cat = np.full(n_groups, _LOSS_CODE["breakdown"], dtype=np.int64)
    minor = (stops.end - stops.start) < int(minor_stop_s * US)
    cat[minor] = _LOSS_CODE["minor_stop"]
    cat[stops.all_setup] = _LOSS_CODE["setup"]
    if stop_losses:
        index = {int(s): i for i, s in enumerate(stops.start)}
        for start_us, loss in stop_losses.items():
            i = index.get(int(start_us))
            if i is not None and loss in _LOSS_CODE:
                cat[i] = _LOSS_CODE[loss]
    is_stop = stops.group >= 0
    # Sentinel entry at the end so that spans outside any stop (group -1) index safely.
    cat = np.append(cat, -1)
    booked = np.zeros(n_groups + 1, dtype=bool)
    if stop_losses:
        booked[:-1] = np.isin(stops.start, np.array(list(stop_losses), dtype=np.int64))
    # Within an unbooked stop, setup spans are setup and the rest follows the stop's rule.
    span_cat = cat[stops.group]
    setup_span = (spans.state == SETUP) & is_stop & ~booked[stops.group]
    span_cat = np.where(setup_span, _LOSS_CODE["setup"], span_cat)
    te.apt_us = int(inside[spans.state == EXECUTING].sum())
    te.no_data_us = int(inside[spans.state == UNKNOWN].sum())
    totals = np.bincount(span_cat[is_stop], weights=inside[is_stop], minlength=len(_LOSS_CODE))
    by = {name: int(totals[code]) for name, code in _LOSS_CODE.items()}
    te.asut_us = by.pop("setup")
    te.adet_us = by.pop("minor_stop")
    planned_stop = by.pop(PLANNED)
    te.pdot_us += planned_stop
    te.pbt_us -= planned_stop
    te.adot_by_loss = {k: v for k, v in by.items() if v}
    te.adot_us = sum(by.values())
    # Planned time not covered by any span is time without data.
    te.no_data_us += cov.total - int(inside.sum())
    return te


# -- KPIs ------------------------------------------------------------------------------------


def compute(te: TimeElements, outputs: Sequence[Output]) -> OEEResult:
    """KPIs and six big losses from time elements and per-product output (ISO 22400-2 KPI definitions)."""
    pq = sum(o.pq for o in outputs)
    gq = sum(o.gq for o in outputs)
    sq = sum(o.sq for o in outputs)
    rq = sum(o.rq for o in outputs)
    startup_sq = sum(o.startup_sq for o in outputs)
    missing_pri = any(o.pri_s is None and o.pq > 0 for o in outputs)
    planned_run_s = sum((o.pri_s or 0.0) * o.pq for o in outputs)
    pris = {o.pri_s for o in outputs if o.pq > 0}
    pri = next(iter(pris)) if len(pris) == 1 else None
    pbt = te.pbt_us / US
    apt = te.apt_us / US
    # ISO 22400-2 KPI availability = APT / PBT
    availability = ratio(apt, pbt, "planned busy time (PBT)")
    # ISO 22400-2 KPI effectiveness = PRI x PQ / APT; not capped, flagged above 1
    if missing_pri:
        effectiveness = Ratio(None, "not applicable: no ideal cycle time (PRI) for a product made")
    else:
        effectiveness = ratio(planned_run_s, apt, "actual production time (APT)")
        if effectiveness.value is not None and effectiveness.value > 1:
            effectiveness = Ratio(
                effectiveness.value, flag="above 100 %: the ideal cycle time (PRI) is too long"
            )
    # ISO 22400-2 KPI quality ratio = GQ / PQ
    quality = ratio(gq, pq, "produced quantity (PQ)")
    # ISO 22400-2 KPI OEE index = availability x effectiveness x quality ratio, unrounded
    parts = (availability.value, effectiveness.value, quality.value)
    if None in parts:
        why = next(r.reason for r in (availability, effectiveness, quality) if r.value is None)
        oee = Ratio(None, why)
    else:
        a, e, q = (float(p) for p in parts)  # type: ignore[arg-type]
        oee = Ratio(a * e * q, flag=effectiveness.flag)
    aubt = te.aubt_us / US
    # ISO 22400-2 KPI NEE index = utilization efficiency (APT / AUBT) x effectiveness x QR
    nee_base = ratio(apt, aubt, "actual unit busy time (AUBT)")
    if nee_base.value is None or effectiveness.value is None or quality.value is None:
        nee = Ratio(None, nee_base.reason or effectiveness.reason or quality.reason)
    else:
        nee = Ratio(nee_base.value * effectiveness.value * quality.value)
    # ISO 22400-2 KPI technical efficiency = APT / (APT + ADET)
    technical = ratio(apt, apt + te.adet_us / US, "APT + ADET")
    # ISO 22400-2 KPI setup rate = ASUT / AUBT
    setup_rate = ratio(te.asut_us / US, aubt, "actual unit busy time (AUBT)")
    # ISO 22400-2 KPIs scrap ratio = SQ / PQ, rework ratio = RQ / PQ
    scrap = ratio(sq, pq, "produced quantity (PQ)")
    rework = ratio(rq, pq, "produced quantity (PQ)")
    # Six big losses (Nakajima) in time: availability losses from the time elements, speed
    # loss = APT - PRI x PQ (negative when faster than ideal), quality losses = PRI x (PQ - GQ)
    # with start-up scrap separated. They sum to PBT - PRI x GQ minus time without data.
    avg_pri = planned_run_s / pq if pq > 0 else 0.0
    losses = {
        "breakdown": te.adot_by_loss.get("breakdown", 0) / US,
        "setup": te.asut_us / US + te.adot_by_loss.get("setup", 0) / US,
        "minor_stop": te.adet_us / US,
        "reduced_speed": apt - planned_run_s + te.adot_by_loss.get("reduced_speed", 0) / US,
        "process_defect": avg_pri * (pq - gq - startup_sq)
        + te.adot_by_loss.get("process_defect", 0) / US,
        "startup_reject": avg_pri * startup_sq + te.adot_by_loss.get("startup_reject", 0) / US,
    }
    if missing_pri:
        losses["reduced_speed"] = apt
    return OEEResult(
        te,
        pq,
        gq,
        sq,
        rq,
        planned_run_s,
        availability,
        effectiveness,
        quality,
        oee,
        nee,
        technical,
        setup_rate,
        scrap,
        rework,
        losses,
        pri,
    )


def machine_oee(
    spans: Spans,
    planned: Sequence[Interval],
    outputs: Sequence[Output],
    *,
    pot: Sequence[Interval] | None = None,
    minor_stop_s: float = DEFAULT_MINOR_STOP_S,
    stop_losses: dict[int, str] | None = None,
) -> OEEResult:
    """OEE of one machine over the planned intervals (a shift, a day, a range, an order)."""
    te = time_elements(spans, planned, pot=pot, minor_stop_s=minor_stop_s, stop_losses=stop_losses)
    return compute(te, outputs)


def _missing_pri(m: OEEResult) -> bool:
    return m.effectiveness.value is None and "PRI" in (m.effectiveness.reason or "")


def line_oee(machines: Sequence[OEEResult], output_index: int = -1) -> OEEResult:
    """Line OEE from the summed time elements of its machines and the output of one of them.

    Availability = sum APT / sum PBT; effectiveness = sum (PRI x PQ) / sum APT (each machine's
    ideal time for what it made, so serial and parallel machines both count correctly);
    quality = GQ / PQ of the line's last (or bottleneck) machine, `machines[output_index]`.
    This is never an average of machine OEEs.
    """
    if not machines:
        raise ValueError("a line OEE needs at least one machine")
    te = TimeElements()
    for m in machines:
        te = te + m.time
    out = machines[output_index]
    # A machine without an ideal cycle time has no planned run time: its APT is left out of
    # the performance ratio (and the result flagged) instead of counting as pure speed loss.
    known = [m for m in machines if not _missing_pri(m)]
    planned_run = sum(m.planned_run_s for m in known)
    apt_known = sum(m.time.apt_us for m in known)
    if known and len(known) < len(machines) and apt_known > 0:
        planned_run *= te.apt_us / apt_known
    pq_total = sum(m.pq for m in machines)
    # One synthetic output whose PRI x PQ is the summed planned run time and whose quality
    # is the output machine's: keeps A x P x Q = OEE and the six losses consistent.
    q = out.gq / out.pq if out.pq > 0 else None
    if pq_total > 0 and q is not None:
        synth = Output(
            pq=pq_total,
            gq=pq_total * q,
            sq=pq_total * (out.sq / out.pq),
            rq=pq_total * (out.rq / out.pq),
            pri_s=planned_run / pq_total,
        )
        result = compute(te, [synth])
    else:
        result = compute(te, [Output(pq=out.pq, gq=out.gq, sq=out.sq, rq=out.rq, pri_s=None)])
    effectiveness, oee_ratio = result.effectiveness, result.oee
    if len(known) < len(machines) and effectiveness.value is not None:
        note = f"{len(machines) - len(known)} machine(s) without an ideal cycle time left out"
        effectiveness = Ratio(effectiveness.value, flag=effectiveness.flag or note)
        oee_ratio = Ratio(oee_ratio.value, oee_ratio.reason, oee_ratio.flag or note)
    elif not known and any(m.pq for m in machines):
        effectiveness = Ratio(None, "not applicable: no machine has an ideal cycle time (PRI)")
        oee_ratio = Ratio(None, effectiveness.reason)
    # Report the real output quantities of the line, not the synthetic ones.
    return OEEResult(
        result.time,
        out.pq,
        out.gq,
        out.sq,
        out.rq,
        result.planned_run_s,
        result.availability,
        effectiveness,
        result.quality_ratio,
        oee_ratio,
        result.nee,
        result.technical_efficiency,
        result.setup_rate,
        result.scrap_ratio,
        result.rework_ratio,
        result.losses_s,
        None,
    )
