"""The evidence a work order created from an event carries: the event and its historian window.

`evidence(...)` builds the JSON stored in `work_order.evidence`: the triggering event (type, id,
payload) and the historian window (machine, tags, start/end) with links to see it: the machine
page (trend) and the history API of each tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

from ifactory.core.events import Event
from ifactory.plant.registry import PlantRegistry

US = 1_000_000
BEFORE_US = 60 * 60 * US  # an hour before the event shows the run-up (rising vibration...)
AFTER_US = 10 * 60 * US


def historian_window(
    registry: PlantRegistry,
    *,
    machine_id: int,
    start_us: int,
    end_us: int,
    tag_ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Machine, tags and [start, end) of the history that explains an event, with links."""
    node = registry.nodes.get(machine_id)
    tags = list(tag_ids) if tag_ids is not None else (node.tags if node is not None else [])
    known = [t for t in tags if t in registry.tags]
    key = node.key if node is not None else str(machine_id)
    bucket_s = max(1, (end_us - start_us) // US // 600)
    range_s = max(60, (end_us - start_us) // US)
    return {
        "machine_id": machine_id,
        "machine_key": key,
        "tag_ids": known,
        "tags": [registry.tags[t].key for t in known],
        "start_us": start_us,
        "end_us": end_us,
        "url": f"/machines/{quote(key)}?"
        + urlencode(
            {
                "range": range_s,
                "tags": ",".join(str(t) for t in known),
                "start_us": start_us,
                "end_us": end_us,
            }
        ),
        "history": [
            "/api/history/aggregate?"
            + urlencode({"tag_id": t, "start_us": start_us, "end_us": end_us, "bucket_s": bucket_s})
            for t in known
        ],
    }


def evidence(
    registry: PlantRegistry,
    event: Event,
    *,
    machine_id: int,
    start_us: int,
    end_us: int,
    tag_ids: Sequence[int] | None = None,
    before_us: int = BEFORE_US,
    after_us: int = AFTER_US,
) -> dict[str, Any]:
    """The evidence JSON of a work order raised by `event` about [start_us, end_us) on a machine."""
    return {
        "type": event.type,
        "event_id": str(event.event_id),
        "occurred_at": event.occurred_at.isoformat(),
        "payload": event.model_dump(mode="json"),
        "historian": historian_window(
            registry,
            machine_id=machine_id,
            start_us=start_us - before_us,
            end_us=end_us + after_us,
            tag_ids=tag_ids,
        ),
    }
