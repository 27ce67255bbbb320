"""Events the stream layer publishes."""

from __future__ import annotations

from ifactory.core.events import Event


class MachineStateChanged(Event):
    """A machine entered a new state (OPC 40001-1 condition, or unknown when silent)."""

    type = "machine.state_changed"

    machine_id: int
    machine_key: str
    previous: str | None
    state: str
    at_us: int
    planned: bool | None = None
    source: str = "tag"
