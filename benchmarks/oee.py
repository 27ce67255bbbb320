"""OEE benchmark: six-loss OEE over a year of state history for 50 machines, and live updates.

Prints `name: number unit` lines, then the machine. The state history is synthetic but shaped
like a plant's: runs of 2-60 min, short idles (minor stops), setups, breakdowns, no-data gaps,
on the example plant's three-shift calendar (Europe/Berlin, so the two DST days are included).
Each machine's output is what it made while executing in planned time at 90 % of the ideal
rate (30 s a part), 97 % good: it fits the history whatever its length (--days).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _plant_history import synthetic_history
from ingest import describe

from ifactory.core.clock import from_datetime
from ifactory.plant.calendar import SiteCalendar
from ifactory.plant.loader import load_plant
from ifactory.plant.registry import NodeInfo, PlantRegistry
from ifactory.plant.spec import Level
from ifactory.production import oee
from ifactory.production.live import LiveOEE

US = 1_000_000
PRI_S = 30.0  # ideal cycle time (ISO 22400-2 PRI), s a part
SPEED = 0.9  # actual / ideal rate while executing: ISO 22400-2 effectiveness = PRI x PQ / APT
GOOD = 0.97  # good share of the produced quantity: ISO 22400-2 quality ratio = GQ / PQ


def _output(spans: oee.Spans, planned: oee.Coverage) -> oee.Output:
    """What a machine made over its history: PQ = SPEED x APT / PRI, so PRI x PQ never exceeds APT."""
    apt_s = planned.overlap(spans.start, spans.end)[spans.state == oee.EXECUTING].sum() / US
    pq = math.floor(SPEED * apt_s / PRI_S)
    gq = math.floor(GOOD * pq)
    return oee.Output(pq=pq, gq=gq, sq=pq - gq, pri_s=PRI_S)


def _positive(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _registry(plant: Any) -> PlantRegistry:
    """The registry the platform builds after seeding `plant` (ids in file order)."""
    ids = {n.key: i for i, n in enumerate(plant.nodes, start=1)}
    nodes = [
        NodeInfo(
            ids[n.key],
            n.key,
            ids[n.parent_key] if n.parent_key else None,
            n.level,
            n.spec.name,
            n.spec.equipment_class,
            n.spec.kind,
            n.uns_path,
            n.site_key,
            ideal_cycle_times=n.ideal_cycle_times,
        )
        for n in plant.nodes
    ]
    sites = {n.key: plant.site_settings(n.key) for n in plant.nodes if n.level == Level.site}
    return PlantRegistry(nodes, [], sites)


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=_positive, default=365, help="history length (default 365)")
    parser.add_argument("--machines", type=_positive, default=50)
    parser.add_argument("--updates", type=_positive, default=200_000)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    plant = load_plant()
    site = next(n.key for n in plant.nodes if n.level == Level.site)
    calendar = SiteCalendar(plant.site_settings(site))
    start = from_datetime(datetime(2026, 1, 1, tzinfo=UTC))
    end = start + args.days * 86_400 * US
    histories = [synthetic_history(rng, start, end) for _ in range(args.machines)]
    n_spans = sum(len(h) for h in histories)
    # Counter deltas come with the history; working them out is not part of the timed OEE.
    coverage = oee.Coverage(calendar.planned_intervals(start, end))
    outputs = [[_output(h, coverage)] for h in histories]

    t0 = time.perf_counter()
    planned = calendar.planned_intervals(start, end)
    pot = oee.normalize((s.start_us, s.end_us) for s in calendar.shifts(start, end))
    results = [
        oee.machine_oee(h, planned, out, pot=pot, minor_stop_s=300)
        for h, out in zip(histories, outputs, strict=True)
    ]
    line = oee.line_oee(results)
    elapsed = time.perf_counter() - t0
    # The six losses and the time without data explain all of PBT - PRI x GQ (zero when the
    # days hold no planned time).
    explained = sum(line.losses_s.values()) + line.time.no_data_us / US
    if abs(explained - line.lost_s) > 1e-6 * max(line.lost_s, 1.0):
        raise SystemExit(f"losses {explained:.3f} s do not add up to lost time {line.lost_s:.3f} s")

    period = "year" if args.days == 365 else f"{args.days}_days"
    print(f"oee_state_spans: {n_spans} spans")
    print(f"oee_{period}_{args.machines}_machines_six_losses: {elapsed:.3f} s")
    print(f"oee_{period}_throughput: {n_spans / elapsed / 1e6:.2f} M spans/s")
    if line.oee.value is not None:
        print(f"oee_{period}_line_oee: {100 * line.oee.value:.1f} %")

    # Live: one machine's running shift, state changes applied one at a time.
    registry = _registry(plant)
    machine = registry.machines()[0]
    live = LiveOEE(registry, store=None, minor_stop_s=300)
    shift_start = calendar.shifts(start + 86_400 * US * 5, start + 86_400 * US * 6)[0]
    # Changes inside one shift (a roll to the next shift is the rare case, measured apart).
    t = shift_start.start_us
    step = max(1, (shift_start.end_us - shift_start.start_us) // (args.updates + 2))
    names = ["executing", "idle", "executing", "down", "executing", "setup"]
    live.on_state(machine.id, "executing", t)
    # Warm-up and import of the shift computation done; now time the steady state.
    t0 = time.perf_counter()
    for i in range(args.updates):
        t += step
        live.on_state(machine.id, names[i % len(names)], t)
    per_update = (time.perf_counter() - t0) / args.updates
    print(f"live_oee_update: {per_update * 1e6:.2f} us per state change")
    t0 = time.perf_counter()
    reps = 2000
    for _ in range(reps):
        live.time_elements(machine.id, t)
    print(f"live_oee_snapshot_time_elements: {(time.perf_counter() - t0) / reps * 1e6:.2f} us")
    for line_ in describe():
        print(line_)


if __name__ == "__main__":
    main()
