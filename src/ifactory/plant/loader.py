"""Load plant.yaml: validate it, report errors with file, line and field, expand class templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pint
import yaml
from pydantic import ValidationError

from ifactory.core.errors import InvalidInput
from ifactory.plant.spec import (
    ALL_DAYS,
    Level,
    NodeSpec,
    PlantSpec,
    SiteSettings,
    TagSpec,
)

EXAMPLE_PLANT = Path(__file__).parent / "examples" / "plant.yaml"
_UNITS: pint.UnitRegistry[Any] = pint.UnitRegistry()


@dataclass(frozen=True)
class PlantFileError:
    """One problem in a plant file, located by line and field path."""

    file: str
    line: int | None
    field: str
    msg: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.msg}"


class PlantFileInvalid(InvalidInput):
    """The plant file has errors; `errors` lists each one with its line."""

    code = "plant_file_invalid"

    def __init__(self, errors: list[PlantFileError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors[:20]), loc=["plant"])

    def detail(self) -> list[dict[str, Any]]:
        return [
            {"msg": e.msg, "loc": [e.file, e.line or 0, *e.field.split(".")], "type": self.code}
            for e in self.errors
        ]


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Walk a composed YAML node along a pydantic error location; return the 1-based line."""
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for key, value in node.value:
                if str(key.value) == str(part):
                    nxt = value
                    break
            if nxt is None:
                break
            node = nxt
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(root)"


def parse(text: str, *, filename: str = "plant.yaml") -> PlantSpec:
    """Parse and validate plant YAML text, raising PlantFileInvalid with located errors."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise PlantFileInvalid(
            [PlantFileError(filename, line, "(syntax)", str(exc).splitlines()[0])]
        ) from None
    if not isinstance(data, dict):
        raise PlantFileInvalid(
            [PlantFileError(filename, 1, "(root)", "the plant file must be a mapping")]
        )
    try:
        spec = PlantSpec.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            # pydantic appends the union/validator name to loc at times; keep the data path.
            loc = tuple(
                p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))
            )
            errors.append(PlantFileError(filename, _line_of(root, loc), _field(loc), err["msg"]))
        raise PlantFileInvalid(errors) from None
    problems = _semantic_checks(spec)
    if problems:
        raise PlantFileInvalid(
            [
                PlantFileError(filename, _line_of(root, loc), _field(loc), msg)
                for loc, msg in problems
            ]
        )
    return spec


def load(path: str | Path) -> PlantSpec:
    """Load and validate a plant file from disk."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlantFileInvalid(
            [PlantFileError(str(path), None, "(file)", exc.strerror or str(exc))]
        ) from None
    return parse(text, filename=str(path))


def _semantic_checks(spec: PlantSpec) -> list[tuple[tuple[int | str, ...], str]]:
    """Checks that span the file: classes exist, units parse, rules name real tags."""
    problems: list[tuple[tuple[int | str, ...], str]] = []
    for cname, cls in spec.equipment_classes.items():
        for i, tag in enumerate(cls.tags):
            problems += _unit_problem(tag, ("equipment_classes", cname, "tags", i, "unit"))

    def walk(node: NodeSpec, loc: tuple[int | str, ...]) -> None:
        if node.equipment_class is not None and node.equipment_class not in spec.equipment_classes:
            problems.append(
                (
                    (*loc, "class"),
                    f"equipment class '{node.equipment_class}' is not declared in equipment_classes",
                )
            )
        for i, tag in enumerate(node.tags):
            problems.extend(_unit_problem(tag, (*loc, "tags", i, "unit")))
        tags = {t.name for t in effective_tags(spec, node)}
        deriv = effective_state_derivation(spec, node)
        if deriv is not None:
            for r, rule in enumerate(deriv.rules):
                for ref in (rule.counter_active, rule.tag):
                    if ref is not None and ref not in tags:
                        problems.append(
                            (
                                (*loc, "state_derivation", "rules", r),
                                f"refers to tag '{ref}', which '{node.id}' does not have",
                            )
                        )
        for i, child in enumerate(node.children):
            walk(child, (*loc, "children", i))

    walk(spec.enterprise, ("enterprise",))
    return problems


def _unit_problem(
    tag: TagSpec, loc: tuple[int | str, ...]
) -> list[tuple[tuple[int | str, ...], str]]:
    if not tag.unit:
        return []
    try:
        _UNITS.parse_units(tag.unit)
    except (
        pint.errors.UndefinedUnitError,
        pint.errors.DefinitionSyntaxError,
        AssertionError,
        ValueError,
    ) as exc:
        return [(loc, f"unknown unit '{tag.unit}' ({exc})")]
    return []


def effective_tags(spec: PlantSpec, node: NodeSpec) -> list[TagSpec]:
    """The node's tags: its class's tags, overridden or extended by its own (by name)."""
    merged: dict[str, TagSpec] = {}
    if node.equipment_class and node.equipment_class in spec.equipment_classes:
        for tag in spec.equipment_classes[node.equipment_class].tags:
            merged[tag.name] = tag
    for tag in node.tags:
        merged[tag.name] = tag
    return list(merged.values())


def effective_cycle_times(spec: PlantSpec, node: NodeSpec) -> dict[str, float]:
    """Ideal cycle time per product: the class's, overridden by the node's."""
    times: dict[str, float] = {}
    if node.equipment_class and node.equipment_class in spec.equipment_classes:
        times.update(spec.equipment_classes[node.equipment_class].ideal_cycle_times)
    times.update(node.ideal_cycle_times)
    return times


def effective_state_derivation(spec: PlantSpec, node: NodeSpec):  # type: ignore[no-untyped-def]
    """The node's state-derivation rules, or its class's."""
    if node.state_derivation is not None:
        return node.state_derivation
    if node.equipment_class and node.equipment_class in spec.equipment_classes:
        return spec.equipment_classes[node.equipment_class].state_derivation
    return None


# --- The expanded plant: what the rest of the platform reads from a plant file ------------


@dataclass
class Tag:
    """A tag with its full key (node path + name) and UNS topic."""

    key: str
    node_key: str
    spec: TagSpec

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class Node:
    """A hierarchy node with its stable key (path of ids) and UNS path."""

    key: str
    spec: NodeSpec
    parent_key: str | None
    uns_path: str
    tags: list[Tag] = field(default_factory=list)
    ideal_cycle_times: dict[str, float] = field(default_factory=dict)
    site_key: str | None = None

    @property
    def level(self) -> Level:
        return self.spec.level

    @property
    def is_machine(self) -> bool:
        """Work units are machines: they carry state and counters."""
        return self.spec.level == Level.work_unit

    def tag_by_role(self, role: str) -> Tag | None:
        """The first tag with the given role."""
        for tag in self.tags:
            if tag.spec.role == role:
                return tag
        return None


@dataclass
class Plant:
    """The plant file expanded into nodes and tags with keys."""

    spec: PlantSpec
    nodes: list[Node]

    def machines(self) -> list[Node]:
        """Every work unit, in file order."""
        return [n for n in self.nodes if n.is_machine]

    def node(self, key: str) -> Node:
        for n in self.nodes:
            if n.key == key:
                return n
        raise KeyError(key)

    def tags(self) -> list[Tag]:
        return [t for n in self.nodes for t in n.tags]

    def site_settings(self, site_key: str) -> SiteSettings:
        site_id = site_key.split("/")[-1]
        return self.spec.sites.get(site_id, SiteSettings())


def expand(spec: PlantSpec) -> Plant:
    """Give every node and tag its key (ids joined by '/') and inherit class templates."""
    nodes: list[Node] = []

    def walk(ns: NodeSpec, parent: Node | None, site_key: str | None) -> None:
        key = ns.id if parent is None else f"{parent.key}/{ns.id}"
        if ns.level == Level.site:
            site_key = key
        node = Node(
            key=key,
            spec=ns,
            parent_key=None if parent is None else parent.key,
            uns_path=key,
            ideal_cycle_times=effective_cycle_times(spec, ns),
            site_key=site_key,
        )
        node.tags = [
            Tag(key=f"{key}/{t.name}", node_key=key, spec=t) for t in effective_tags(spec, ns)
        ]
        nodes.append(node)
        for child in ns.children:
            walk(child, node, site_key)

    walk(spec.enterprise, None, None)
    return Plant(spec=spec, nodes=nodes)


def load_plant(path: str | Path | None = None) -> Plant:
    """Load a plant file (the bundled example by default) and expand it."""
    return expand(load(path or EXAMPLE_PLANT))


__all__ = [
    "ALL_DAYS",
    "EXAMPLE_PLANT",
    "Node",
    "Plant",
    "PlantFileError",
    "PlantFileInvalid",
    "Tag",
    "expand",
    "load",
    "load_plant",
    "parse",
]
