"""Automatic downtime reasons from a machine's `downtime_reason` tag, and the recorded events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ifactory.api.app import create_app
from ifactory.core.clock import ManualClock
from ifactory.core.outbox import OutboxRecord
from ifactory.core.settings import Settings
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import EXAMPLE_PLANT, load_plant
from ifactory.platform import Platform
from ifactory.production import live
from tests.production.conftest import CNC1, MIN, MONDAY_06H_US, feed_states, tag_id, token

T = MONDAY_06H_US
STATE_LINE = "      - {name: state, data_type: enum, role: state, enum: {0: idle, 1: executing, 2: setup, 3: down, 4: maintenance}}\n"


@pytest.fixture
def platform(database_url: str, tmp_path: Path) -> Iterator[Platform]:
    """The example plant with a `stop_reason` tag (role downtime_reason) on the CNC mills."""
    text = Path(EXAMPLE_PLANT).read_text()
    assert STATE_LINE in text
    text = text.replace(
        STATE_LINE,
        STATE_LINE + "      - {name: stop_reason, data_type: string, role: downtime_reason}\n",
        1,
    )
    path = tmp_path / "plant.yaml"
    path.write_text(text)
    # The tests jump the plant clock by hours between feeds; the silence ticker (a real
    # thread) must not declare machines unknown in between, so silence detection is off here
    # (it is tested in tests/stream/test_state.py).
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        state_stale_after_s=1e9,
    )
    p = Platform.open(settings, clock=ManualClock(T + 60 * MIN), plant=load_plant(path))
    live.install(p)
    yield p
    p.stop()


def test_reason_from_tag_and_downtime_recorded_event(platform: Platform) -> None:
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        headers = token(platform, client, "admin", [])
        # The machine stops, reports why a few seconds later, then runs again.
        feed_states(platform, CNC1, [("executing", T), ("down", T + 10 * MIN)])
        tid = tag_id(platform, CNC1, "stop_reason")
        platform.pipeline.ingest(
            TelemetryBatch.of(
                [tid], [T + 10 * MIN + 5_000_000], [float("nan")], received_us=T, text=["BRK-HYD"]
            )
        )
        feed_states(platform, CNC1, [("executing", T + 30 * MIN)])
        r = client.get("/api/production/downtime", params={"node": CNC1}, headers=headers)
        assert r.status_code == 200, r.text
        (stop,) = r.json()["items"]
        assert (stop["reason_code"], stop["reason_source"], stop["loss"]) == (
            "BRK-HYD",
            "tag",
            "breakdown",
        )
        with platform.db.session() as session:
            payloads = [
                row.payload
                for row in session.scalars(
                    select(OutboxRecord).where(OutboxRecord.type == "production.downtime_recorded")
                )
            ]
        assert [(p["start_us"], p["end_us"], p["reason_code"]) for p in payloads] == [
            (T + 10 * MIN, T + 30 * MIN, "BRK-HYD")
        ]
