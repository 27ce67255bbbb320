"""With the PostgreSQL historian, the rejects of every process land in the shared database."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ifactory.core.clock import ManualClock
from ifactory.historian.batch import TelemetryBatch
from ifactory.platform import Platform
from tests.api.conftest import T0


def unknown_tag_batch(tag: str, source: str) -> TelemetryBatch:
    return TelemetryBatch.of(
        np.array([tag], dtype=object), [T0], [1.0], received_us=T0, source=source
    )


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_every_process_sees_the_rejects_of_the_others(
    client: TestClient, platform: Platform, tmp_path: Path
) -> None:
    assert platform.settings.historian_url is not None
    # A second process (a worker) of the same deployment: same databases, its own data dir.
    settings = platform.settings.model_copy(update={"data_dir": tmp_path / "worker"})
    worker = Platform.open(settings, clock=ManualClock(T0))
    try:
        worker.pipeline.ingest(unknown_tag_batch("acme/nowhere/tag", "worker"))
        platform.pipeline.ingest(unknown_tag_batch("acme/nowhere/other", "api"))
        assert client.get("/api/dead-letters/counts").json() == {"unknown_tag": 2}
        page = client.get("/api/dead-letters", params={"reason": "unknown_tag"}).json()
        assert page["total"] == 2
        assert {(i["source"], i["tag"]) for i in page["items"]} == {
            ("worker", "acme/nowhere/tag"),
            ("api", "acme/nowhere/other"),
        }
        assert worker.dead_letters.counts() == {"unknown_tag": 2}
    finally:
        worker.stop()
