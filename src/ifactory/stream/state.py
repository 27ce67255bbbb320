"""The machine-state tracker: turns state tags (or derived rules) into state intervals and events.

Runs as an ingest-pipeline consumer after the historian commit. Change detection is vectorised:
only the points where a machine's state actually changes reach Python code.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import Table, bindparam, insert, select, update

from ifactory.core import outbox
from ifactory.core.db import Database
from ifactory.historian.batch import BAD_NO_COMMUNICATION, TelemetryBatch, is_good
from ifactory.plant.registry import PlantRegistry
from ifactory.plant.spec import MachineState, StateDerivation, TagRole
from ifactory.stream.events import MachineStateChanged
from ifactory.stream.models import MachineStateInterval

log = logging.getLogger(__name__)

STATES: list[MachineState] = list(MachineState)
STATE_INDEX = {s: i for i, s in enumerate(STATES)}
UNKNOWN = STATE_INDEX[MachineState.unknown]
US = 1_000_000


@dataclass
class _Derived:
    """Inputs of a machine whose state comes from rules (a retrofit without a state tag)."""

    rules: StateDerivation
    values: dict[str, float]
    counter_last: dict[str, float]
    counter_increase_us: dict[str, int]
    evaluated_us: int = -(2**62)  # the data time the rules were last evaluated at


class MachineStateTracker:
    """Keeps each machine's current state, writes state intervals and publishes changes."""

    def __init__(
        self,
        registry: PlantRegistry,
        db: Database,
        *,
        notify: Any = None,
        stale_after_s: float = 120.0,
    ) -> None:
        self.registry = registry
        self.db = db
        self.notify = notify
        self.stale_after_us = int(stale_after_s * US)
        self.machines = registry.machines()
        self.machine_ids = np.array([m.id for m in self.machines], dtype=np.int64)
        n_tags = (max(registry.tags) + 1) if registry.tags else 1
        # tag id -> machine index (any tag of a machine: for silence detection), -1 if none
        self.tag_machine = np.full(n_tags, -1, dtype=np.int32)
        # tag id -> machine index for state tags; enum code -> state index through one flat
        # lookup table (each state tag owns a slice of it), so decoding is one gather.
        self.state_tag_machine = np.full(n_tags, -1, dtype=np.int32)
        self.lut_offset = np.zeros(n_tags, dtype=np.int64)
        self.lut_size = np.zeros(n_tags, dtype=np.int64)
        luts: list[npt.NDArray[np.int8]] = []
        lut_end = 0
        self.derived: dict[int, _Derived] = {}
        self.derived_tag_names: dict[int, tuple[int, str]] = {}
        for mi, m in enumerate(self.machines):
            for tid in m.tags:
                self.tag_machine[tid] = mi
            state_tag = registry.tag_by_role(m.id, TagRole.state.value)
            if state_tag is not None:
                self.state_tag_machine[state_tag.id] = mi
                codes = state_tag.state_codes()
                lut = np.full(max(codes) + 1 if codes else 1, UNKNOWN, dtype=np.int8)
                for code, state in codes.items():
                    lut[code] = STATE_INDEX[state]
                self.lut_offset[state_tag.id] = lut_end
                self.lut_size[state_tag.id] = len(lut)
                lut_end += len(lut)
                luts.append(lut)
            elif m.state_derivation is not None:
                self.derived[mi] = _Derived(m.state_derivation, {}, {}, {})
                names = {r.tag for r in m.state_derivation.rules if r.tag} | {
                    r.counter_active for r in m.state_derivation.rules if r.counter_active
                }
                for tid in m.tags:
                    name = registry.tags[tid].name
                    if name in names:
                        self.derived_tag_names[tid] = (mi, name)
        self.flat_lut = np.concatenate(luts) if luts else np.full(1, UNKNOWN, dtype=np.int8)
        self.derived_tags = np.array(sorted(self.derived_tag_names), dtype=np.int64)
        self.state = np.full(len(self.machines), UNKNOWN, dtype=np.int8)
        self.since_us = np.zeros(len(self.machines), dtype=np.int64)
        self.last_seen_us = np.zeros(len(self.machines), dtype=np.int64)
        self.changes = 0
        self.late_points = 0
        self._lock = threading.Lock()
        self._load()

    # -- startup ---------------------------------------------------------------------------
    def _load(self) -> None:
        index = {int(mid): i for i, mid in enumerate(self.machine_ids)}
        with self.db.session() as session:
            rows = session.scalars(
                select(MachineStateInterval).where(MachineStateInterval.end_us.is_(None))
            )
            for row in rows:
                mi = index.get(row.machine_id)
                if mi is not None:
                    self.state[mi] = STATE_INDEX[MachineState(row.state)]
                    self.since_us[mi] = row.start_us
                    self.last_seen_us[mi] = row.start_us

    # -- hot path ----------------------------------------------------------------------------
    def on_batch(self, batch: TelemetryBatch) -> None:
        """Consume an accepted, committed batch (tags are resolved int32 ids)."""
        if len(batch) == 0:
            return
        tags = batch.tags
        inside = tags < len(self.tag_machine)
        if not inside.all():
            tags = np.where(inside, tags, 0)
        with self._lock:
            mi = np.where(inside, self.tag_machine[tags], -1)
            seen = mi >= 0
            if seen.any():
                np.maximum.at(self.last_seen_us, mi[seen], batch.ts[seen])
            pending: list[
                tuple[int, int, int, str]
            ] = []  # (machine index, state index, ts, source)
            self._state_tags(batch, tags, inside, pending)
            self._no_communication(batch, mi, pending)
            if len(self.derived_tags):
                self._derive(batch, tags, pending)
            # A machine that was unknown and speaks again without a state point yet keeps
            # "unknown" until its next state sample arrives (at most one sample interval).
            if pending:
                self._apply(sorted(pending, key=lambda p: p[2]))

    def _state_tags(
        self,
        batch: TelemetryBatch,
        tags: npt.NDArray[Any],
        inside: npt.NDArray[np.bool_],
        pending: list[tuple[int, int, int, str]],
    ) -> None:
        smi = np.where(inside, self.state_tag_machine[tags], -1)
        sel = np.flatnonzero((smi >= 0) & is_good(batch.quality) & np.isfinite(batch.values))
        if not len(sel):
            return
        machines = smi[sel]
        ts = batch.ts[sel]
        codes = batch.values[sel].astype(np.int64)
        size = self.lut_size[tags[sel]]
        ok = (codes >= 0) & (codes < size)
        lookup = self.lut_offset[tags[sel]] + np.clip(codes, 0, size - 1)
        sidx = np.where(ok, self.flat_lut[lookup], UNKNOWN).astype(np.int8)
        order = np.lexsort((ts, machines))
        machines, ts, sidx = machines[order], ts[order], sidx[order]
        # Late points (older than the current state's start) are stored but do not rewrite
        # the live state; counted so a backfill of states is visible.
        late = ts < self.since_us[machines]
        if late.any():
            self.late_points += int(late.sum())
            keep = ~late
            machines, ts, sidx = machines[keep], ts[keep], sidx[keep]
            if not len(ts):
                return
        prev = np.empty_like(sidx)
        prev[1:] = sidx[:-1]
        first = np.ones(len(sidx), dtype=bool)
        first[1:] = machines[1:] != machines[:-1]
        prev[first] = self.state[machines[first]]
        for i in np.flatnonzero(sidx != prev):
            pending.append((int(machines[i]), int(sidx[i]), int(ts[i]), "tag"))

    def _no_communication(
        self,
        batch: TelemetryBatch,
        mi: npt.NDArray[np.int32],
        pending: list[tuple[int, int, int, str]],
    ) -> None:
        """A machine tag saying Bad_NoCommunication (e.g. Sparkplug node death) means unknown."""
        sel = np.flatnonzero((batch.quality == BAD_NO_COMMUNICATION) & (mi >= 0))
        if not len(sel):
            return
        for m in np.unique(mi[sel]).tolist():
            t = int(batch.ts[sel][mi[sel] == m].min())
            if t >= self.since_us[m]:
                # "offline" fits the 16-character source column; unknown is never downtime.
                pending.append((int(m), UNKNOWN, t, "offline"))

    def _derive(
        self,
        batch: TelemetryBatch,
        tags: npt.NDArray[Any],
        pending: list[tuple[int, int, int, str]],
    ) -> None:
        sel = np.flatnonzero(np.isin(tags, self.derived_tags) & is_good(batch.quality))
        if not len(sel):
            return
        sel = sel[np.argsort(batch.ts[sel], kind="stable")]
        # The rules are evaluated at every input sample and at the moment a counter's window
        # runs out between two samples, so a change is stamped when it happened: a stop is
        # `window_s` after the last stroke, not at the end of the batch that shows it, and a
        # stop and restart inside one batch are both recorded. Only the few derived-state input
        # tags reach this loop.
        current: dict[int, int] = {}
        for i in sel:
            mi, name = self.derived_tag_names[int(tags[i])]
            d = self.derived[mi]
            state = current.get(mi, int(self.state[mi]))
            t = int(batch.ts[i])
            for end in self._window_ends(d, t):
                state = self._record(d, mi, state, end, pending)
            v = float(batch.values[i])
            last = d.counter_last.get(name)
            if last is not None and v != last:
                d.counter_increase_us[name] = t
            d.counter_last[name] = v
            d.values[name] = v
            current[mi] = self._record(d, mi, state, t, pending)

    def _record(
        self, d: _Derived, mi: int, state: int, t: int, pending: list[tuple[int, int, int, str]]
    ) -> int:
        """Evaluate the rules at `t`; a change from `state` joins `pending`. The state after."""
        d.evaluated_us = max(d.evaluated_us, t)
        new = self._evaluate(d, t)
        if new != state and t >= self.since_us[mi]:
            pending.append((mi, new, t, "derived"))
            return new
        return state

    @staticmethod
    def _window_ends(d: _Derived, t: int) -> list[int]:
        """The first instants after a counter's last increase plus `window_s` that fall between
        the last evaluation and `t`, in time order: the moments a counter rule stops holding."""
        ends = []
        for rule in d.rules.rules:
            if rule.counter_active is None:
                continue
            inc = d.counter_increase_us.get(rule.counter_active)
            if inc is None:
                continue
            end = inc + int(rule.window_s * US) + 1
            if d.evaluated_us < end < t:
                ends.append(end)
        return sorted(set(ends))

    @staticmethod
    def _evaluate(d: _Derived, now_us: int) -> int:
        for rule in d.rules.rules:
            if rule.counter_active is not None:
                inc = d.counter_increase_us.get(rule.counter_active)
                if inc is not None and now_us - inc <= rule.window_s * US:
                    return STATE_INDEX[rule.state]
            elif rule.tag is not None and rule.tag in d.values:
                v = d.values[rule.tag]
                if (rule.above is None or v > rule.above) and (
                    rule.below is None or v < rule.below
                ):
                    return STATE_INDEX[rule.state]
        return STATE_INDEX[d.rules.otherwise]

    def tick(self, now_us: int) -> int:
        """Mark machines silent for longer than `stale_after` as unknown; returns how many."""
        with self._lock:
            silent = (now_us - self.last_seen_us > self.stale_after_us) & (self.state != UNKNOWN)
            silent &= self.last_seen_us > 0
            pending = [
                (int(mi), UNKNOWN, int(max(self.last_seen_us[mi], self.since_us[mi])), "silence")
                for mi in np.flatnonzero(silent)
            ]
            if pending:
                self._apply(pending)
            return len(pending)

    def _apply(self, changes: list[tuple[int, int, int, str]]) -> None:
        """Record changes (time-ordered) in one transaction with bulk statements.

        For each machine the open interval is closed at its first change; intervals that
        begin and end inside this call are inserted closed; the last one stays open.
        """
        opened: list[dict[str, Any]] = []
        closes: list[dict[str, Any]] = []
        events: list[MachineStateChanged] = []
        last_open: dict[int, dict[str, Any]] = {}
        for mi, sidx, ts, source in changes:
            if sidx == self.state[mi]:
                continue
            machine = self.machines[mi]
            previous = STATES[self.state[mi]].value if self.since_us[mi] else None
            if mi in last_open:
                last_open[mi]["end_us"] = ts
            elif self.since_us[mi]:
                closes.append({"m": machine.id, "end": ts})
            row = {
                "machine_id": machine.id,
                "state": STATES[sidx].value,
                "start_us": ts,
                "end_us": None,
                "source": source,
            }
            opened.append(row)
            last_open[mi] = row
            events.append(
                MachineStateChanged(
                    machine_id=machine.id,
                    machine_key=machine.key,
                    previous=previous,
                    state=STATES[sidx].value,
                    at_us=ts,
                    planned=self.registry.is_planned(machine.id, ts),
                    source=source,
                )
            )
            self.state[mi] = sidx
            self.since_us[mi] = ts
        if not events:
            return
        table = cast(Table, MachineStateInterval.__table__)
        with self.db.session() as session:
            if closes:
                session.connection().execute(
                    update(table)
                    .where(table.c.machine_id == bindparam("m"), table.c.end_us.is_(None))
                    .values(end_us=bindparam("end")),
                    closes,
                )
            session.connection().execute(insert(table), opened)
            outbox.add_all(session, events)
        self.changes += len(events)
        if self.notify is not None:
            self.notify()

    # -- reads -------------------------------------------------------------------------------
    def current(self) -> dict[int, tuple[MachineState, int]]:
        """machine id -> (state, since µs)."""
        with self._lock:
            return {
                int(self.machine_ids[i]): (STATES[self.state[i]], int(self.since_us[i]))
                for i in range(len(self.machines))
            }
