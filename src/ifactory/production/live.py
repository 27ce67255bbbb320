"""Live OEE of the running shift per machine and line, updated in O(1) per state change.

Each machine keeps the running shift's time elements as integers (µs). A state change closes
one span: its overlap with the shift's few planned intervals is added to one bucket (APT,
ASUT, no data, or the pending stop). A stop's planned time stays pending until the stop ends,
because only then is its whole length known and with it whether it was a minor stop (ADET)
or downtime (ADOT) (ISO 22400-2 ADET / ADOT). Quantities are read from the historian's
counter aggregates when a snapshot is asked for, so counters cost nothing per sample.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ifactory.core.errors import InvalidInput
from ifactory.core.events import Event
from ifactory.plant.registry import NodeInfo, PlantRegistry
from ifactory.production import downtime, oee, reports
from ifactory.stream import history
from ifactory.stream.events import MachineStateChanged

if TYPE_CHECKING:
    from ifactory.platform import Platform

log = logging.getLogger(__name__)
US = 1_000_000


@dataclass
class _Machine:
    node: NodeInfo
    shift: reports.Window | None = None
    planned: list[oee.Interval] = field(default_factory=list)
    pot_us: int = 0
    state: int = oee.UNKNOWN
    since_us: int = 0
    apt: int = 0
    asut: int = 0
    adet: int = 0
    adot: int = 0
    no_data: int = 0
    stop_start: int | None = None  # start of the current stop (run of stop states)
    stop_pending: int = 0  # planned non-setup time of the current stop, not yet classified
    minor_us: int | None = None  # the machine's minor-stop threshold (plant model), else default

    def overlap(self, s: int, e: int) -> int:
        total = 0
        for ps, pe in self.planned:  # a shift has a handful of planned intervals: O(1)
            if pe > s and ps < e:
                total += min(e, pe) - max(s, ps)
        return total


class LiveOEE:
    """The running shift's OEE per machine and line; `on_state` is O(1)."""

    def __init__(
        self,
        registry: PlantRegistry,
        store: Any,
        *,
        minor_stop_s: float = oee.DEFAULT_MINOR_STOP_S,
    ) -> None:
        self.registry = registry
        self.store = store
        self.minor_us = int(minor_stop_s * US)
        self.minor_stop_s = minor_stop_s
        self.machines = {m.id: _Machine(m) for m in registry.machines() if m.kind != "utility"}
        self._lock = threading.RLock()

    # -- updates -----------------------------------------------------------------------------
    def _roll(self, m: _Machine, at_us: int) -> None:
        """Start the shift containing `at_us` (or the gap before the next one)."""
        shift = reports.current_shift(self.registry, m.node.id, at_us)
        m.apt = m.asut = m.adet = m.adot = m.no_data = 0
        m.stop_pending = 0
        if shift is None:
            # Between shifts: nothing is planned until the next shift starts.
            cal = self.registry.calendar_for(m.node.id)
            later = cal.shifts(at_us, at_us + 8 * 86_400 * US) if cal is not None else []
            nxt = next((s.start_us for s in later if s.start_us > at_us), at_us + 86_400 * US)
            m.shift = reports.Window(at_us, nxt, "no shift")
            m.planned, m.pot_us = [], 0
        else:
            m.shift = shift
            m.planned, pot = reports.planned_and_pot(
                self.registry, m.node.id, shift.start_us, shift.end_us
            )
            m.pot_us = sum(e - s for s, e in pot)
        if m.stop_start is not None:
            m.stop_start = max(m.stop_start, m.shift.start_us)
        m.since_us = max(m.since_us, m.shift.start_us)

    def _close_span(self, m: _Machine, end_us: int) -> None:
        if m.since_us and end_us > m.since_us:
            t = m.overlap(m.since_us, end_us)
            if m.state == oee.EXECUTING:
                m.apt += t
            elif m.state == oee.UNKNOWN:
                m.no_data += t
            elif m.state == oee.SETUP:
                m.asut += t
            else:
                m.stop_pending += t

    def _end_stop(self, m: _Machine, at_us: int) -> None:
        if m.stop_start is None:
            return
        if at_us - m.stop_start < self._minor_us(m):
            m.adet += m.stop_pending
        else:
            m.adot += m.stop_pending
        m.stop_start = None
        m.stop_pending = 0

    def on_state(self, machine_id: int, state: str, at_us: int) -> None:
        """Apply one state change (late or repeated changes are ignored: idempotent by time)."""
        m = self.machines.get(machine_id)
        if m is None:
            return
        code = oee.STATE_CODES.get(state, oee.UNKNOWN)
        with self._lock:
            if at_us < m.since_us:
                return
            if m.shift is None:
                self._roll(m, at_us)
            assert m.shift is not None
            while at_us >= m.shift.end_us:  # shift boundary: close the old shift first
                self._close_span(m, m.shift.end_us)
                m.since_us = m.shift.end_us
                self._roll(m, m.shift.end_us)
            self._close_span(m, at_us)
            was_stop = m.state not in (oee.EXECUTING, oee.UNKNOWN)
            is_stop = code not in (oee.EXECUTING, oee.UNKNOWN)
            if was_stop and not is_stop:
                self._end_stop(m, at_us)
            if is_stop and not was_stop:
                m.stop_start = at_us
            m.state = code
            m.since_us = at_us

    def on_event(self, event: Event) -> None:
        """Bus handler for `machine.state_changed`."""
        if isinstance(event, MachineStateChanged):
            self.on_state(event.machine_id, event.state, event.at_us)

    # -- reads -------------------------------------------------------------------------------
    def time_elements(self, machine_id: int, now_us: int) -> oee.TimeElements | None:
        """Time elements of the machine's running shift up to now (open span included)."""
        m = self.machines.get(machine_id)
        if m is None:
            return None
        with self._lock:
            if m.shift is None or now_us >= m.shift.end_us:
                self.on_state(machine_id, oee.STATES[m.state], max(now_us, m.since_us))
            assert m.shift is not None
            end = min(now_us, m.shift.end_us)
            apt, asut, adet, adot, nod, pend = m.apt, m.asut, m.adet, m.adot, m.no_data, 0
            if m.since_us and end > m.since_us:
                t = m.overlap(m.since_us, end)
                if m.state == oee.EXECUTING:
                    apt += t
                elif m.state == oee.UNKNOWN:
                    nod += t
                elif m.state == oee.SETUP:
                    asut += t
                else:
                    pend = t
            pend += m.stop_pending
            if m.stop_start is not None and pend:
                if end - m.stop_start < self._minor_us(m):
                    adet += pend
                else:
                    adot += pend
            pbt = m.overlap(m.shift.start_us, end)
            pot = min(m.pot_us, max(0, end - m.shift.start_us))
            nod += max(0, pbt - (apt + asut + adet + adot + nod))
            return oee.TimeElements(
                pot_us=pot,
                pdot_us=max(0, pot - pbt),
                pbt_us=pbt,
                apt_us=apt,
                asut_us=asut,
                adet_us=adet,
                adot_us=adot,
                no_data_us=nod,
                adot_by_loss={"breakdown": adot} if adot else {},
            )

    def machine(self, machine_id: int, now_us: int) -> tuple[reports.Window, oee.OEEResult] | None:
        """(shift, OEE so far) of a machine."""
        te = self.time_elements(machine_id, now_us)
        m = self.machines.get(machine_id)
        if te is None or m is None or m.shift is None:
            return None
        start, end = m.shift.start_us, min(now_us, m.shift.end_us)
        out = reports.outputs(self.registry, self.store, machine_id, [(start, end)])
        return m.shift, oee.compute(te, out)

    def line(
        self, node_id: int, now_us: int
    ) -> tuple[oee.OEEResult | None, list[tuple[NodeInfo, oee.OEEResult]]]:
        """Line OEE of the running shift (summed time elements, last machine's output)."""
        parts = []
        for m in reports.line_machines(self.registry, node_id):
            got = self.machine(m.id, now_us)
            if got is not None:
                parts.append((m, got[1]))
        if not parts:
            return None, []
        return oee.line_oee([r for _, r in parts]), parts

    def set_registry(self, registry: PlantRegistry) -> None:
        """Use a new plant snapshot (calendar edited): shifts are recomputed at the next change."""
        with self._lock:
            self.registry = registry
            for m in self.machines.values():
                if m.shift is not None:
                    m.planned, pot = reports.planned_and_pot(
                        registry, m.node.id, m.shift.start_us, m.shift.end_us
                    )
                    m.pot_us = sum(e - s for s, e in pot)

    def _minor_us(self, m: _Machine) -> int:
        return self.minor_us if m.minor_us is None else m.minor_us

    def load_thresholds(self, session: Any) -> None:
        """Take each machine's minor-stop threshold from the plant model (machine, then line)."""
        for mid, m in self.machines.items():
            try:
                m.minor_us = int(reports.minor_stop_threshold(session, self.registry, mid) * US)
            except InvalidInput as exc:
                log.warning("live OEE keeps the default minor-stop threshold: %s", exc.msg)
                m.minor_us = None

    def load(self, session: Any, now_us: int) -> None:
        """Rebuild the running shift from the stored state history (at startup)."""
        self.load_thresholds(session)
        for mid, m in self.machines.items():
            shift = reports.current_shift(self.registry, mid, now_us)
            start = shift.start_us if shift else now_us
            m.since_us = 0
            m.shift = None
            rows = history.intervals(
                session, machine_id=mid, start_us=start, end_us=now_us + 1, now_us=now_us
            )
            for state, s, _e, _src in rows:
                self.on_state(mid, state, s)


class _Service:
    """Starts and stops the live OEE subscription with the platform."""

    def __init__(self, platform: Platform, live: LiveOEE) -> None:
        self.platform = platform
        self.live = live
        self._unsubscribe: list[Any] = []

    def start(self) -> None:
        try:
            with self.platform.db.session() as session:
                self.live.load(session, self.platform.clock.now_us())
        except Exception:
            log.exception("could not rebuild the live OEE from the state history")
        # Stops that ended while no state change was being listened to (history ingested before
        # the start, or a restart) become downtime events now, not at the machine's next change.
        try:
            downtime.sync(
                self.platform.db,
                machine_ids=[m.id for m in self.platform.registry.machines()],
                now_us=self.platform.clock.now_us(),
                registry=self.platform.registry,
                store=self.platform.store,
            )
        except Exception:
            log.exception("could not derive downtime events from the state history")
        self._unsubscribe.append(
            self.platform.bus.subscribe(MachineStateChanged.type, self.live.on_event)
        )
        self._unsubscribe.append(
            self.platform.bus.subscribe(MachineStateChanged.type, self._downtime)
        )

    def _downtime(self, event: Event) -> None:
        if not isinstance(event, MachineStateChanged):
            return
        downtime.sync(
            self.platform.db,
            machine_ids=[event.machine_id],
            now_us=self.platform.clock.now_us(),
            registry=self.platform.registry,
            store=self.platform.store,
        )

    def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()


def install(platform: Platform) -> None:
    """Keep live OEE and downtime events up to date from `machine.state_changed` events."""
    if get(platform) is not None:  # installed already: one subscription per platform
        return
    live = LiveOEE(platform.registry, platform.store)
    platform.extras.append(_Service(platform, live))
    platform.live_oee = live  # type: ignore[attr-defined]


def get(platform: Any) -> LiveOEE | None:
    """The platform's live OEE, if the feature is installed."""
    live: LiveOEE | None = getattr(platform, "live_oee", None)
    return live
