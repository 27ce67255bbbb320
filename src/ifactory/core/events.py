"""Typed domain events: pydantic models with a unique id, delivered at least once."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ifactory.core.db import utcnow

EVENT_TYPES: dict[str, type[Event]] = {}


class Event(BaseModel):
    """Base of every domain event; subclasses set `type` (e.g. "machine.state_changed")."""

    model_config = ConfigDict(frozen=True)

    type: ClassVar[str] = "event"
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    occurred_at: datetime = Field(default_factory=utcnow)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type" in cls.__dict__:
            EVENT_TYPES[cls.type] = cls


def decode(type_: str, payload: dict[str, Any]) -> Event:
    """Rebuild an event from its type name and JSON payload (as stored in the outbox)."""
    cls = EVENT_TYPES.get(type_)
    if cls is None:
        raise KeyError(f"unknown event type '{type_}'")
    return cls.model_validate(payload)
