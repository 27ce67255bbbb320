"""An in-memory snapshot of the plant model (ids, keys, roles) for the hot path and the pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ifactory.plant.calendar import SiteCalendar
from ifactory.plant.spec import Level, MachineState, SiteSettings, StateDerivation


@dataclass(frozen=True)
class TagInfo:
    id: int
    key: str
    node_id: int
    name: str
    data_type: str
    unit: str
    role: str
    enum: dict[int, str] | None
    counter_max: int | None
    limits: dict[str, Any] | None
    sample_interval_s: float
    description: str = ""

    def state_codes(self) -> dict[int, MachineState]:
        """For a state tag: enum value -> machine state."""
        return {int(k): MachineState(v) for k, v in (self.enum or {}).items()}


@dataclass
class NodeInfo:
    id: int
    key: str
    parent_id: int | None
    level: Level
    name: str
    equipment_class: str | None
    kind: str | None
    uns_path: str
    site_key: str | None
    state_derivation: StateDerivation | None = None
    ideal_cycle_times: dict[str, float] = field(default_factory=dict)
    children: list[int] = field(default_factory=list)
    tags: list[int] = field(default_factory=list)

    @property
    def is_machine(self) -> bool:
        return self.level == Level.work_unit


class PlantRegistry:
    """Lookup tables built once from the database and rebuilt when the plant model changes."""

    def __init__(
        self, nodes: list[NodeInfo], tags: list[TagInfo], sites: dict[str, SiteSettings]
    ) -> None:
        self.nodes = {n.id: n for n in nodes}
        self.nodes_by_key = {n.key: n for n in nodes}
        self.tags = {t.id: t for t in tags}
        self.tags_by_key = {t.key: t for t in tags}
        self.sites = sites
        self.calendars = {key: SiteCalendar(s) for key, s in sites.items()}
        for n in nodes:
            if n.parent_id is not None and n.parent_id in self.nodes:
                self.nodes[n.parent_id].children.append(n.id)
        for t in tags:
            if t.node_id in self.nodes:
                self.nodes[t.node_id].tags.append(t.id)

    def roots(self) -> list[NodeInfo]:
        return [n for n in self.nodes.values() if n.parent_id is None]

    def machines(self) -> list[NodeInfo]:
        """Every work unit, in hierarchy order."""
        return [n for n in self.walk() if n.is_machine]

    def walk(self, start: NodeInfo | None = None) -> list[NodeInfo]:
        """Nodes depth-first in file order."""
        out: list[NodeInfo] = []
        stack = [start] if start else list(reversed(self.roots()))
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(self.nodes[c] for c in reversed(node.children))
        return out

    def machine_tags(self, node_id: int) -> list[TagInfo]:
        return [self.tags[t] for t in self.nodes[node_id].tags]

    def tag_by_role(self, node_id: int, role: str) -> TagInfo | None:
        for t in self.machine_tags(node_id):
            if t.role == role:
                return t
        return None

    def ancestors(self, node_id: int) -> list[NodeInfo]:
        """The node's ancestors, nearest first."""
        out = []
        node = self.nodes[node_id]
        while node.parent_id is not None:
            node = self.nodes[node.parent_id]
            out.append(node)
        return out

    def calendar_for(self, node_id: int) -> SiteCalendar | None:
        """The calendar of the node's site."""
        site_key = self.nodes[node_id].site_key
        return self.calendars.get(site_key) if site_key else None

    def is_planned(self, node_id: int, ts_us: int) -> bool | None:
        """Whether the calendar says `ts_us` is planned production time for this node."""
        cal = self.calendar_for(node_id)
        if cal is None:
            return None
        ids = {self.nodes[node_id].key.rsplit("/", 1)[-1]} | {
            a.key.rsplit("/", 1)[-1] for a in self.ancestors(node_id)
        }
        return cal.is_planned(ts_us, ids)
