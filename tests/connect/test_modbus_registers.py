"""Register maps as data: decoding per byte/word order, scaling, block planning, config errors."""

from __future__ import annotations

import struct

import pytest

from ifactory.connect.modbus.config import devices_from_plant
from ifactory.connect.modbus.registers import (
    ModbusDevice,
    ModbusPoint,
    ModbusSource,
    decode,
    encode,
    plan_blocks,
)
from ifactory.core.errors import InvalidInput
from ifactory.plant.loader import expand, parse

DEVICE = ModbusDevice(host="127.0.0.1")


def words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


@pytest.mark.parametrize(
    ("byte_order", "word_order", "transform"),
    [
        ("big", "big", lambda b: b),  # ABCD, the Modbus convention
        ("big", "little", lambda b: b[2:4] + b[0:2]),  # CDAB, "word swapped"
        ("little", "big", lambda b: b[1::-1] + b[3:1:-1]),  # BADC, "byte swapped"
        ("little", "little", lambda b: b[::-1]),  # DCBA
    ],
)
def test_float32_in_every_byte_and_word_order(byte_order, word_order, transform) -> None:  # type: ignore[no-untyped-def]
    src = ModbusSource(address=0, type="float32", byte_order=byte_order, word_order=word_order)
    regs = words(transform(struct.pack(">f", 123.456)))
    assert decode(regs, src) == pytest.approx(123.456, rel=1e-6)
    assert encode(123.456, src) == regs


def test_float64_word_swapped_and_signed_integers() -> None:
    f64 = ModbusSource(address=0, type="float64", word_order="little")
    regs = words(struct.pack(">d", -9876.54321))[::-1]
    assert decode(regs, f64) == -9876.54321
    assert decode([0xFFFF], ModbusSource(address=0, type="int16")) == -1
    assert decode([0xFFFF], ModbusSource(address=0, type="uint16")) == 65535
    assert decode([0xFFFF, 0xFFFE], ModbusSource(address=0, type="int32")) == -2
    assert decode([0x0001, 0x0000], ModbusSource(address=0, type="uint32")) == 65536


def test_scale_and_offset_give_engineering_units() -> None:
    # A transmitter reporting tenths of a degree with -40 °C at zero.
    src = ModbusSource(address=0, type="uint16", scale=0.1, offset=-40)
    assert decode([650], src) == pytest.approx(25.0)
    assert encode(25.0, src) == [650]
    with pytest.raises(ValueError, match="does not fit"):
        encode(7000.0, src)


def points(*specs: tuple[int, str]) -> list[ModbusPoint]:
    return [ModbusPoint(f"t{i}", ModbusSource(address=a, type=t)) for i, (a, t) in enumerate(specs)]


def test_contiguous_addresses_merge_and_gaps_split() -> None:
    pts = points((0, "uint16"), (1, "float32"), (3, "int32"), (10, "uint16"))
    blocks = plan_blocks(pts, DEVICE)
    assert [(b.address, b.count) for b in blocks] == [(0, 5), (10, 1)]
    bridged = plan_blocks(pts, DEVICE.model_copy(update={"max_gap": 5}))
    assert [(b.address, b.count) for b in bridged] == [(0, 11)]


def test_reads_never_exceed_125_registers_or_2000_coils() -> None:
    pts = [ModbusPoint(f"f{i}", ModbusSource(address=2 * i, type="float32")) for i in range(200)]
    blocks = plan_blocks(pts, DEVICE)
    assert all(b.count <= 125 for b in blocks)
    assert sum(b.count for b in blocks) == 400
    assert len(blocks) == 4  # 400 registers need ceil(400 / 124) reads: a float never straddles
    coils = [ModbusPoint(f"c{i}", ModbusSource(table="coil", address=i)) for i in range(4500)]
    assert [b.count for b in plan_blocks(coils, DEVICE)] == [2000, 2000, 500]


def test_units_and_tables_are_read_separately() -> None:
    pts = [
        ModbusPoint("a", ModbusSource(unit=1, address=0)),
        ModbusPoint("b", ModbusSource(unit=2, address=1)),
        ModbusPoint("c", ModbusSource(unit=1, table="input", address=1)),
    ]
    assert len(plan_blocks(pts, DEVICE)) == 3


def test_a_wrong_source_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="type must be bool"):
        ModbusSource(table="coil", address=0, type="float32")
    with pytest.raises(ValueError, match="runs past address 65535"):
        ModbusSource(address=65535, type="float32")


PLANT = """
enterprise:
  id: acme
  level: enterprise
  children:
    - id: site
      level: site
      children:
        - id: area
          level: area
          children:
            - id: pump1
              level: work_unit
              attributes: {modbus: {host: 10.0.0.5, port: 5020, poll_interval_s: 0.5}}
              tags:
                - {name: flow, unit: m**3/h, sources: {modbus: {unit: 3, address: 100, type: float32, word_order: little}}}
                - {name: running, data_type: bool, sources: {modbus: {unit: 3, table: coil, address: 7}}}
                - {name: note, data_type: string}
"""


def test_plant_file_declares_devices_and_register_maps() -> None:
    plant = expand(parse(PLANT))
    [(device, pts)] = devices_from_plant(plant)
    assert (device.host, device.port, device.poll_interval_s) == ("10.0.0.5", 5020, 0.5)
    assert {p.tag_key: p.source.table.value for p in pts} == {
        "acme/site/area/pump1/flow": "holding",
        "acme/site/area/pump1/running": "coil",
    }


def test_a_modbus_tag_without_device_settings_names_the_node() -> None:
    plant = expand(
        parse(
            PLANT.replace(
                "attributes: {modbus: {host: 10.0.0.5, port: 5020, poll_interval_s: 0.5}}", ""
            )
        )
    )
    with pytest.raises(InvalidInput, match="acme/site/area/pump1"):
        devices_from_plant(plant)
    bad = expand(parse(PLANT.replace("type: float32", "type: float16")))
    with pytest.raises(InvalidInput, match=r"pump1/flow: sources\.modbus: type"):
        devices_from_plant(bad)
