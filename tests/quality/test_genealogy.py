"""Genealogy forward and backward on a small graph, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ifactory.core.db import Database
from ifactory.core.errors import Conflict, NotFound
from ifactory.quality import genealogy
from ifactory.quality.schemas import TraceNode

from .conftest import add_orders

H = 3_600_000_000


def codes(node: TraceNode) -> dict[str, object]:
    """The tree as {code: {child code: ...}} (a repeated lot shows as '<code>*')."""
    return {(node.lot.code + ("*" if node.repeated else "")): [codes(c) for c in node.children]}


@pytest.fixture
def graph(qdb: Database) -> Database:
    """R1, R2, R3 raw; order 1: R1 + R2 -> I1; order 2: R2 + R3 -> I2; order 3: I1 + I2 -> F1."""
    add_orders(qdb, 1, 2, 3)
    with qdb.session() as s:
        for code in ("R1", "R2", "R3"):
            genealogy.create_lot(s, code=code, material="steel", quantity=100, user="recv")
        recipe = {1: (["R1", "R2"], "I1"), 2: (["R2", "R3"], "I2"), 3: (["I1", "I2"], "F1")}
        for order, (inputs, output) in recipe.items():
            # Order 2 records its output before its inputs: the links do not depend on order.
            if order == 2:
                genealogy.produce(
                    s,
                    order_id=order,
                    code=output,
                    material="part",
                    kind="intermediate",
                    quantity=10,
                    unit="pcs",
                    machine_id=None,
                    start_us=order * H,
                    end_us=order * H + H,
                    user="olga",
                )
            for code in inputs:
                genealogy.consume(
                    s, order_id=order, lot_code=code, quantity=5, ts_us=order * H, user="olga"
                )
            if order != 2:
                genealogy.produce(
                    s,
                    order_id=order,
                    code=output,
                    material="part",
                    kind="finished" if order == 3 else "intermediate",
                    quantity=10,
                    unit="pcs",
                    machine_id=None,
                    start_us=order * H,
                    end_us=order * H + H,
                    user="olga",
                )
    return qdb


def test_backward_finds_everything_that_went_into_a_finished_lot(graph: Database) -> None:
    with graph.session() as s:
        result = genealogy.trace(s, lot_code="F1", direction="backward")
    assert codes(result.root) == {
        "F1": [{"I1": [{"R1": []}, {"R2": []}]}, {"I2": [{"R2*": []}, {"R3": []}]}]
    }
    assert result.lots == 6 and result.max_depth_reached == 2
    assert result.root.lot.operator == "olga" and result.root.lot.order_id == 3


def test_forward_finds_where_a_raw_lot_went(graph: Database) -> None:
    with graph.session() as s:
        result = genealogy.trace(s, lot_code="R2", direction="forward")
        limited = genealogy.trace(s, lot_code="R2", direction="forward", max_depth=1)
        leaf = genealogy.trace(s, lot_code="R3", direction="backward")
    assert codes(result.root) == {"R2": [{"I1": [{"F1": []}]}, {"I2": [{"F1*": []}]}]}
    assert codes(limited.root) == {"R2": [{"I1": []}, {"I2": []}]}
    assert codes(leaf.root) == {"R3": []}


def test_a_held_lot_cannot_be_consumed_and_unknown_lots_are_not_found(graph: Database) -> None:
    with graph.session() as s:
        lot = genealogy.get_lot(s, code="R3")
        lot.status = "on_hold"
    with graph.session() as s, pytest.raises(Conflict, match="on_hold"):
        genealogy.consume(s, order_id=9, lot_code="R3", quantity=1, ts_us=0, user="olga")
    with graph.session() as s, pytest.raises(NotFound):
        genealogy.trace(s, lot_code="nope", direction="forward")


def test_deep_chain(qdb: Database) -> None:
    # 12 levels: L0 -> L1 -> ... -> L12, each through its own order.
    add_orders(qdb, *range(101, 113))
    with qdb.session() as s:
        genealogy.create_lot(s, code="L0", material="m", user="u")
        for i in range(1, 13):
            genealogy.consume(
                s, order_id=100 + i, lot_code=f"L{i - 1}", quantity=1, ts_us=i, user="u"
            )
            genealogy.produce(
                s,
                order_id=100 + i,
                code=f"L{i}",
                material="m",
                kind="intermediate",
                quantity=1,
                unit="",
                machine_id=None,
                start_us=i,
                end_us=i + 1,
                user="u",
            )
    with qdb.session() as s:
        forward = genealogy.trace(s, lot_code="L0", direction="forward")
        backward = genealogy.trace(s, lot_code="L12", direction="backward")
    assert forward.lots == backward.lots == 13
    assert forward.max_depth_reached == backward.max_depth_reached == 12
