"""The plant file: the example loads, and every kind of mistake is reported with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from ifactory.plant.loader import EXAMPLE_PLANT, PlantFileInvalid, expand, load, parse
from ifactory.plant.spec import Level, TagRole

GOOD = """\
version: 1
equipment_classes:
  mill:
    tags:
      - {name: state, data_type: enum, role: state, enum: {0: idle, 1: executing}}
      - {name: vibration, unit: mm/s}
enterprise:
  id: acme
  level: enterprise
  children:
    - id: s1
      level: site
      children:
        - id: a1
          level: area
          children:
            - {id: m1, level: work_unit, class: mill}
sites:
  s1: {timezone: Europe/Berlin}
"""


def errors_of(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(PlantFileInvalid) as info:
        parse(text, filename="my.yaml")
    return [(e.line, e.field, e.msg) for e in info.value.errors]


def test_example_plant_has_the_promised_shape() -> None:
    plant = expand(load(EXAMPLE_PLANT))
    machines = plant.machines()
    assert len(machines) >= 12
    lines = [
        n for n in plant.nodes if n.level == Level.work_center and n.spec.kind == "production_line"
    ]
    assert len(lines) >= 3
    classes = {m.spec.equipment_class for m in machines}
    assert {
        "cnc_mill",
        "press",
        "injection_moulder",
        "air_compressor",
        "robot_cell",
        "packaging_machine",
    } <= classes
    compressor = next(m for m in machines if m.spec.equipment_class == "air_compressor")
    parent = plant.node(compressor.parent_key or "")
    assert parent.level == Level.area  # a utility outside any line
    assert all(6 <= len(m.tags) <= 12 for m in machines)
    stateless = [m for m in machines if m.tag_by_role(TagRole.state) is None]
    assert stateless and all(m.spec.state_derivation is not None for m in stateless)
    assert all(m.ideal_cycle_times for m in machines if m.tag_by_role(TagRole.cycle_counter))
    assert any(
        t.spec.data_type == "string" and t.spec.role == TagRole.product for t in plant.tags()
    )


def test_good_file_expands_class_tags_with_keys() -> None:
    plant = expand(parse(GOOD))
    m1 = plant.node("acme/s1/a1/m1")
    assert [t.key for t in m1.tags] == ["acme/s1/a1/m1/state", "acme/s1/a1/m1/vibration"]


def test_unknown_unit_is_reported_with_its_line() -> None:
    text = GOOD.replace("unit: mm/s", "unit: furlongs_per_blink")
    [(line, field, msg)] = errors_of(text)
    assert line == 6
    assert field == "equipment_classes.mill.tags.1.unit"
    assert "furlongs_per_blink" in msg


def test_missing_field_and_bad_level_order() -> None:
    text = GOOD.replace("      level: site\n", "      level: work_unit\n").replace(
        "- id: a1\n          level: area", "- id: a1\n          level: area\n          nonsense: 1"
    )
    errs = errors_of(text)
    fields = {f for _, f, _ in errs}
    assert any("nonsense" in f for f in fields), errs
    assert all(line is not None for line, _, _ in errs)


def test_child_must_be_a_lower_level() -> None:
    text = GOOD.replace(
        "- {id: m1, level: work_unit, class: mill}", "- {id: m1, level: site, class: mill}"
    )
    errs = errors_of(text)
    assert any("lower ISA-95 level" in msg for _, _, msg in errs)


def test_undeclared_class_and_rule_on_missing_tag() -> None:
    text = GOOD.replace("class: mill}", "class: lathe}")
    [(line, field, msg)] = errors_of(text)
    assert (
        line == 17
        and field == "enterprise.children.0.children.0.children.0.class"
        and "lathe" in msg
    )
    text = GOOD.replace(
        "- {id: m1, level: work_unit, class: mill}",
        "- {id: m1, level: work_unit, class: mill, state_derivation: {rules: [{state: executing, counter_active: strokes}]}}",
    )
    [(line, field, msg)] = errors_of(text)
    assert "strokes" in msg and line == 17


def test_state_tag_labels_must_be_machine_states() -> None:
    errs = errors_of(GOOD.replace("1: executing", "1: running"))
    assert errs[0][0] == 5 and "running" in errs[0][2]


def test_unknown_timezone_and_syntax_error() -> None:
    errs = errors_of(GOOD.replace("Europe/Berlin", "Mars/Olympus"))
    assert errs[0][1] == "sites.s1.timezone" and errs[0][0] == 19
    errs = errors_of(GOOD + "  bad: [unclosed\n")
    assert errs[0][1] == "(syntax)" and errs[0][0] is not None


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PlantFileInvalid) as info:
        load(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value)
