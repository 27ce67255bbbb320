"""API shapes of the plant model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TagRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "key": "acme/springfield/machining/machining_line/cnc1/vibration_rms",
                    "node_id": 5,
                    "name": "vibration_rms",
                    "data_type": "float",
                    "unit": "mm/s",
                    "role": "measurement",
                    "description": "",
                    "limits": {"low": 0, "high": 50, "alarm_high": 7.1},
                    "enum": None,
                    "counter_max": None,
                    "sample_interval_s": 1.0,
                    "enabled": True,
                }
            ]
        },
    )

    id: int
    key: str
    node_id: int
    name: str
    data_type: str
    unit: str
    role: str
    description: str
    limits: dict[str, Any] | None
    enum: dict[str, Any] | None
    counter_max: int | None
    sample_interval_s: float
    enabled: bool = True


class TagUpdate(BaseModel):
    """Fields a plant engineer may change on a tag; the rest follows from the plant file."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    unit: str | None = None
    limits: dict[str, float] | None = None
    enabled: bool | None = None


class TagPage(BaseModel):
    items: list[TagRead]
    total: int


class MachineStatus(BaseModel):
    state: str = Field(examples=["executing"])
    since_us: int
    planned: bool | None = Field(
        description="whether the calendar says now is planned production time"
    )


class TreeNode(BaseModel):
    id: int
    key: str
    name: str
    level: str
    equipment_class: str | None = None
    kind: str | None = None
    uns_path: str
    status: MachineStatus | None = None
    children: list[TreeNode] = Field(default_factory=list)


class NodeRead(BaseModel):
    id: int
    key: str
    name: str
    level: str
    equipment_class: str | None
    kind: str | None
    uns_path: str
    parent_key: str | None
    ideal_cycle_times: dict[str, float]
    status: MachineStatus | None = None
    tags: list[TagRead]


class NodeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
