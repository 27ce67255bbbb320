"""What really happened in a simulation run, for scoring analytics against (exportable as JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class FailureRecord:
    """A failure: when, where, how, and when its precursor began (None for sudden failures)."""

    time_us: int
    machine: str
    mode: str
    precursor_onset_us: int | None
    repaired_us: int
    reason: str


@dataclass(frozen=True)
class StateInterval:
    """The machine's true condition over [start_us, end_us), with a reason (code or calendar)."""

    start_us: int
    end_us: int
    state: str
    reason: str = ""


@dataclass(frozen=True)
class Outage:
    """A gateway outage: the machine published nothing in [start_us, end_us)."""

    machine: str
    start_us: int
    end_us: int


@dataclass(frozen=True)
class ProductChange:
    """A product changeover starting at `time_us` (the setup follows)."""

    time_us: int
    machine: str
    from_product: str | None
    to_product: str


@dataclass(frozen=True)
class DegradationEpisode:
    """A degradation from its onset to its end (a failure, a tool change, or still running)."""

    machine: str
    mode: str
    onset_us: int
    end_us: int | None
    outcome: str | None  # "failure", "tool_change", or None while it lasts


@dataclass
class GroundTruth:
    """The ground truth of a run up to `until_us`."""

    until_us: int
    failures: list[FailureRecord] = field(default_factory=list)
    state_intervals: dict[str, list[StateInterval]] = field(default_factory=dict)
    outages: list[Outage] = field(default_factory=list)
    product_changes: list[ProductChange] = field(default_factory=list)
    degradations: list[DegradationEpisode] = field(default_factory=list)

    def state_at(self, machine: str, ts_us: int) -> str | None:
        """The machine's true condition at `ts_us` (None outside the recorded range)."""
        for iv in self.state_intervals.get(machine, []):
            if iv.start_us <= ts_us < iv.end_us:
                return iv.state
        return None

    def observed_intervals(self, machine: str) -> list[StateInterval]:
        """State intervals as the platform can see them: outages overlaid as `unknown`."""
        cuts = sorted((o.start_us, o.end_us) for o in self.outages if o.machine == machine)
        out: list[StateInterval] = []
        for iv in self.state_intervals.get(machine, []):
            cur = iv.start_us
            for s, e in cuts:
                if e <= cur or s >= iv.end_us:
                    continue
                if s > cur:
                    out.append(StateInterval(cur, s, iv.state, iv.reason))
                out.append(StateInterval(max(s, cur), min(e, iv.end_us), "unknown", "outage"))
                cur = min(e, iv.end_us)
            if cur < iv.end_us:
                out.append(StateInterval(cur, iv.end_us, iv.state, iv.reason))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists and dicts) for JSON."""
        return {
            "until_us": self.until_us,
            "failures": [asdict(f) for f in self.failures],
            "state_intervals": {
                m: [asdict(iv) for iv in ivs] for m, ivs in self.state_intervals.items()
            },
            "outages": [asdict(o) for o in self.outages],
            "product_changes": [asdict(p) for p in self.product_changes],
            "degradations": [asdict(d) for d in self.degradations],
        }

    def to_json(self) -> str:
        """The ground truth as a JSON document."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroundTruth:
        """Rebuild from `to_dict()` output."""
        return cls(
            until_us=int(data["until_us"]),
            failures=[FailureRecord(**f) for f in data["failures"]],
            state_intervals={
                m: [StateInterval(**iv) for iv in ivs] for m, ivs in data["state_intervals"].items()
            },
            outages=[Outage(**o) for o in data["outages"]],
            product_changes=[ProductChange(**p) for p in data["product_changes"]],
            degradations=[DegradationEpisode(**d) for d in data.get("degradations", [])],
        )

    @classmethod
    def from_json(cls, text: str) -> GroundTruth:
        """Rebuild from `to_json()` output."""
        return cls.from_dict(json.loads(text))
