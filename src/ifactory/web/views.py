"""View models of the pages: what templates and page scripts need, built from the plant registry.

Pure functions over the registry, the state tracker's snapshot and the clock, so the pages can be
tested without a running platform. Live values are not read here: the page scripts get them from
the API and the event stream, which keeps one source of truth for "latest value".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ifactory.plant.registry import NodeInfo, PlantRegistry, TagInfo
from ifactory.plant.spec import Level, MachineState

EN_DASH = "\u2013"  # typographic range sign: "0 to 50" is written with it
NUMERIC_TYPES = frozenset({"float", "int"})
COUNTER_ROLES = frozenset(
    {"cycle_counter", "good_counter", "scrap_counter", "rework_counter", "energy"}
)
# Cards stay scannable on a control-room screen with at most this many values.
MAX_KEY_TAGS = 5
MIN_KEY_TAGS = 4
DEFAULT_TREND_TAGS = 3

# Storage units are pint names; people read the symbols.
_UNIT_SYMBOLS = {
    "degC": "°C",
    "degF": "°F",
    "degree_Celsius": "°C",
    "N*m": "N·m",
    "percent": "%",
    "m**3/h": "m³/h",
    "m^3/h": "m³/h",
    "mm**2": "mm²",
    "um": "µm",
    "micrometer": "µm",
}
_WORDS_UPPER = {"rms", "id", "oee", "pm", "uns", "rpm", "plc"}


class _Tracker(Protocol):
    def current(self) -> Any: ...


class _Clock(Protocol):
    def now_us(self) -> int: ...


class PagePlatform(Protocol):
    """What the pages read from the running platform (a subset of `ifactory.platform.Platform`)."""

    registry: PlantRegistry
    tracker: _Tracker
    clock: _Clock


def unit_symbol(unit: str | None) -> str:
    """The unit as people write it (degC -> °C); empty for dimensionless tags."""
    if not unit or unit == "dimensionless":
        return ""
    return _UNIT_SYMBOLS.get(unit, unit)


def tag_label(name: str) -> str:
    """A readable label from a tag name: "vibration_rms" -> "Vibration RMS"."""
    words = [w.upper() if w in _WORDS_UPPER else w for w in name.replace("-", "_").split("_") if w]
    if not words:
        return name
    first = words[0]
    words[0] = first if first.isupper() else first[:1].upper() + first[1:]
    return " ".join(words)


def level_label(node: NodeInfo) -> str:
    """What a node is, in words: "site", "area", "production line" (a work center's kind)."""
    if node.level == Level.work_center and node.kind:
        return node.kind.replace("_", " ")
    return node.level.value.replace("_", " ")


def limit_texts(tag: TagInfo) -> tuple[str, str]:
    """The engineering range and the alarm limits as short texts: "0 to 50" and "< 180 · > 7.1"."""
    limits = tag.limits or {}
    low, high = limits.get("low"), limits.get("high")
    alarm_low, alarm_high = limits.get("alarm_low"), limits.get("alarm_high")
    if low is not None and high is not None:
        span = f"{low:g} {EN_DASH} {high:g}"
    elif low is not None:
        span = f"≥ {low:g}"
    elif high is not None:
        span = f"≤ {high:g}"
    else:
        span = ""
    alarms = []
    if alarm_low is not None:
        alarms.append(f"< {alarm_low:g}")
    if alarm_high is not None:
        alarms.append(f"> {alarm_high:g}")
    return span, " · ".join(alarms)


def is_numeric(tag: TagInfo) -> bool:
    """Whether the tag can be drawn on a trend chart."""
    return tag.data_type in NUMERIC_TYPES


def tag_json(tag: TagInfo) -> dict[str, Any]:
    """Tag metadata for the page scripts (formatting, limits, enum labels)."""
    return {
        "id": tag.id,
        "key": tag.key,
        "name": tag.name,
        "label": tag_label(tag.name),
        "data_type": tag.data_type,
        "role": tag.role,
        "unit": unit_symbol(tag.unit),
        "limits": tag.limits or None,
        # JSON object keys are strings anyway; say so explicitly for the script.
        "enum": {str(k): v for k, v in tag.enum.items()} if tag.enum else None,
        "counter_max": tag.counter_max,
        "sample_interval_s": tag.sample_interval_s,
    }


def key_tags(tags: list[TagInfo]) -> list[TagInfo]:
    """The 4-5 values that tell a machine's condition at a glance, in plant-file order.

    Measurements with alarm limits first (vibration, temperatures, pressures: what a planner
    watches for wear), then motor current (is it working), then the cycle counter (is it
    producing); filled up with other measurements when a machine has fewer of those.
    """
    chosen: list[TagInfo] = [
        t for t in tags if t.role == "measurement" and is_numeric(t) and _has_alarm_limits(t)
    ][:3]
    for role in ("current", "cycle_counter"):
        chosen += [t for t in tags if t.role == role][:1]
    for t in tags:
        if len(chosen) >= MIN_KEY_TAGS:
            break
        if t not in chosen and t.role == "measurement" and is_numeric(t):
            chosen.append(t)
    ids = {t.id for t in chosen[:MAX_KEY_TAGS]}
    return [t for t in tags if t.id in ids]


def _has_alarm_limits(tag: TagInfo) -> bool:
    limits = tag.limits or {}
    return limits.get("alarm_low") is not None or limits.get("alarm_high") is not None


def default_trend_tags(tags: list[TagInfo]) -> list[int]:
    """The tags charted when a machine page opens: the first numeric measurements."""
    return [t.id for t in tags if t.role == "measurement" and is_numeric(t)][:DEFAULT_TREND_TAGS]


@dataclass
class MachineStatusView:
    """A machine's current condition as the tracker and the calendar see it."""

    state: str
    since_us: int
    planned: bool | None


@dataclass
class MachineCard:
    """One machine on the overview."""

    id: int
    key: str
    name: str
    equipment_class: str | None
    kind: str | None
    status: MachineStatusView
    key_tags: list[TagInfo]
    product_tag: TagInfo | None


@dataclass
class Section:
    """A node above the machines (site, area, line) with the machines directly below it."""

    node: NodeInfo
    depth: int
    machines: list[MachineCard] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)


def status_of(
    platform: PagePlatform, node: NodeInfo, current: dict[int, Any], now_us: int
) -> MachineStatusView:
    """Current state of a machine ("unknown" until the tracker has heard from it)."""
    entry = current.get(node.id)
    if entry is None:
        state, since = MachineState.unknown.value, 0
    else:
        state, since = str(getattr(entry[0], "value", entry[0])), int(entry[1])
    return MachineStatusView(
        state=state, since_us=since, planned=platform.registry.is_planned(node.id, now_us)
    )


def machine_card(
    platform: PagePlatform, node: NodeInfo, current: dict[int, Any], now_us: int
) -> MachineCard:
    """The overview card of one machine."""
    tags = platform.registry.machine_tags(node.id)
    return MachineCard(
        id=node.id,
        key=node.key,
        name=node.name,
        equipment_class=node.equipment_class,
        kind=node.kind,
        status=status_of(platform, node, current, now_us),
        key_tags=key_tags(tags),
        product_tag=next((t for t in tags if t.role == "product"), None),
    )


def plant_sections(platform: PagePlatform, now_us: int) -> list[Section]:
    """The hierarchy from each root down to the machines (levels below machines are not shown)."""
    reg = platform.registry
    current = platform.tracker.current()

    def build(node: NodeInfo, depth: int) -> Section:
        section = Section(node=node, depth=depth)
        for child_id in node.children:
            child = reg.nodes[child_id]
            if child.level == Level.work_unit:
                section.machines.append(machine_card(platform, child, current, now_us))
            else:
                sub = build(child, depth + 1)
                if sub.machines or sub.children:
                    section.children.append(sub)
        return section

    return [build(root, 0) for root in reg.roots()]


def site_timezone(registry: PlantRegistry, node: NodeInfo | None = None) -> str:
    """The time zone the page shows times in: the node's site, else the first site, else UTC."""
    if node is not None and node.site_key and node.site_key in registry.sites:
        return registry.sites[node.site_key].timezone
    for settings in registry.sites.values():
        return settings.timezone
    return "UTC"
